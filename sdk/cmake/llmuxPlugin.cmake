# llmux_add_plugin(<name> <sources>...)
# Builds an llmux provider plugin: a shared library named llmux-<name>.so with
# only its entry points exported. Drop the file into llmux's plugins folder.
set(LLMUX_PLUGIN_EXPORTS_MAP ${CMAKE_CURRENT_LIST_DIR}/llmux-plugin-exports.map)

function(llmux_add_plugin name)
  add_library(llmux-${name} MODULE ${ARGN})
  target_link_libraries(llmux-${name} PRIVATE llmux::sdk)
  set_target_properties(llmux-${name} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_compile_features(llmux-${name} PRIVATE cxx_std_20)
  # Fail at link time, not at load time, on an unresolved symbol.
  target_link_options(llmux-${name} PRIVATE -Wl,--no-undefined)
  # -fvisibility=hidden does not cover std:: template instantiations (libstdc++
  # gives them default visibility); the version script keeps the exported
  # symbols to exactly the two entry points.
  target_link_options(llmux-${name} PRIVATE -Wl,--version-script=${LLMUX_PLUGIN_EXPORTS_MAP})
  set_property(TARGET llmux-${name} APPEND PROPERTY LINK_DEPENDS ${LLMUX_PLUGIN_EXPORTS_MAP})
endfunction()
