// Reading a JSON answer in a test: the parsed document, and a failed
// expectation (showing the text) when it is not JSON.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "llmux/json.h"

namespace llmux::test {

inline rapidjson::Document parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

}  // namespace llmux::test
