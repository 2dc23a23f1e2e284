extern "C" __attribute__((visibility("default"))) int some_unrelated_function() { return 42; }
