# Build-time guard for the plugin ABI (run by the llmux_abi_check target).
#
# The types in sdk/include/llmux cross the plugin boundary, so changing them
# must bump LLMUX_ABI_VERSION (plugin_abi.h). sdk/abi.stamp records the version
# and a fingerprint of those headers with comments and blank space removed.
# When the fingerprint changes but the version does not, the build fails; after
# bumping the version (or, for a change that provably leaves layout and
# virtual functions alone, keeping it) run
#   cmake -DUPDATE=ON -DSDK_DIR=sdk -P sdk/cmake/abi_check.cmake
# to write the new stamp, and commit it with the header change.
cmake_minimum_required(VERSION 3.25)
get_filename_component(SDK_DIR "${SDK_DIR}" ABSOLUTE)
file(GLOB_RECURSE headers RELATIVE "${SDK_DIR}/include" "${SDK_DIR}/include/llmux/*.h")
list(SORT headers)
set(text "")
foreach(header IN LISTS headers)
  file(READ "${SDK_DIR}/include/${header}" content)
  # Comments and blank space do not change the ABI.
  string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" content "${content}")
  string(REGEX REPLACE "//[^\n]*" "" content "${content}")
  string(REGEX REPLACE "[ \t\r\n]+" " " content "${content}")
  string(APPEND text "${header}:${content}\n")
endforeach()
string(SHA256 fingerprint "${text}")
file(STRINGS "${SDK_DIR}/include/llmux/plugin_abi.h" version_line REGEX "#define LLMUX_ABI_VERSION")
string(REGEX MATCH "[0-9]+" version "${version_line}")
set(stamp_file "${SDK_DIR}/abi.stamp")
if(UPDATE)
  file(WRITE "${stamp_file}" "abi ${version} ${fingerprint}\n")
  message(STATUS "abi.stamp: ABI ${version}, headers ${fingerprint}")
  return()
endif()
file(READ "${stamp_file}" stamp)
string(REGEX MATCH "^abi ([0-9]+) ([0-9a-f]+)" _ "${stamp}")
set(stamped_version "${CMAKE_MATCH_1}")
set(stamped_fingerprint "${CMAKE_MATCH_2}")
if(NOT fingerprint STREQUAL stamped_fingerprint)
  if(version STREQUAL stamped_version)
    message(FATAL_ERROR "The plugin-facing SDK headers (sdk/include/llmux) changed but LLMUX_ABI_VERSION is "
      "still ${version}. Bump it in plugin_abi.h, then run: "
      "cmake -DUPDATE=ON -DSDK_DIR=sdk -P sdk/cmake/abi_check.cmake")
  endif()
  message(FATAL_ERROR "LLMUX_ABI_VERSION is now ${version} (stamp: ${stamped_version}) and the headers changed: "
    "record the new stamp with: cmake -DUPDATE=ON -DSDK_DIR=sdk -P sdk/cmake/abi_check.cmake")
elseif(NOT version STREQUAL stamped_version)
  message(FATAL_ERROR "LLMUX_ABI_VERSION changed to ${version} without a header change (stamp: ${stamped_version}).")
endif()
