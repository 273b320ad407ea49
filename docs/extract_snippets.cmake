# Turns the ```cpp blocks of one markdown page into one C++ source file.
#
#   cmake -DPAGE=<page.md> -DOUTPUT=<page.cpp> -P extract_snippets.cmake
#
# The conventions (docs/README.md, "Code in these pages"):
#   ```cpp           a complete program: its own #includes and an int main()
#                    that returns 0 on success. Compiled and run by ctest.
#   ```cpp partial   declarations only (functions, classes), compiled but not
#                    run; <fovea/fovea.hpp> is available without an #include.
# Other fences (cmake, sh, text) are not touched.
#
# Each block goes into its own namespace so that the blocks of a page share one
# translation unit (one compile) without clashing; its #include lines move to
# the top of the file. #line directives point compiler errors at the page.
# A generated main() runs every complete block in page order and fails if any
# block returns non-zero or throws.

if(NOT PAGE OR NOT OUTPUT)
  message(FATAL_ERROR "usage: cmake -DPAGE=page.md -DOUTPUT=page.cpp -P extract_snippets.cmake")
endif()

file(READ "${PAGE}" text)
get_filename_component(page_name "${PAGE}" NAME)

# CMake lists split on ';' and treat '\' and '[ ]' specially: swap them for
# control characters while the text is handled as a list of lines.
string(ASCII 1 semicolon_mark)
string(ASCII 2 backslash_mark)
string(ASCII 3 open_mark)
string(ASCII 4 close_mark)
string(REPLACE "\\" "${backslash_mark}" text "${text}")
string(REPLACE ";" "${semicolon_mark}" text "${text}")
string(REPLACE "[" "${open_mark}" text "${text}")
string(REPLACE "]" "${close_mark}" text "${text}")
string(REPLACE "\r" "" text "${text}")
string(REPLACE "\n" ";" lines "${text}")

set(includes "")        # hoisted #include lines, first occurrence order
set(bodies "")          # the namespaces, one per block
set(calls "")           # runner calls for blocks with a main
set(in_block FALSE)
set(line_number 0)
set(block_count 0)

foreach(line IN LISTS lines)
  math(EXPR line_number "${line_number} + 1")
  if(NOT in_block)
    if(line MATCHES "^( *)```cpp( +([A-Za-z-]+))? *$")
      set(in_block TRUE)
      set(indent "${CMAKE_MATCH_1}")
      string(LENGTH "${indent}" indent_length)
      set(kind "${CMAKE_MATCH_3}")
      if(kind AND NOT kind STREQUAL "partial")
        message(FATAL_ERROR "${PAGE}:${line_number}: unknown block kind '${kind}' (expected ```cpp or ```cpp partial)")
      endif()
      math(EXPR block_count "${block_count} + 1")
      math(EXPR first_line "${line_number} + 1")
      set(block_start ${line_number})
      set(block "")
      set(has_main FALSE)
    elseif(line MATCHES "^ *```(c\\+\\+|cxx|cc|hpp|c)( |$)")
      message(FATAL_ERROR "${PAGE}:${line_number}: write C++ blocks as ```cpp so that they are tested")
    endif()
    continue()
  endif()

  if(line MATCHES "^ *``` *$")
    set(in_block FALSE)
    set(ns "fovea_doc_block_${block_count}")
    if(has_main)
      if(kind STREQUAL "partial")
        string(APPEND bodies "// ${page_name}:${block_start}: partial: compiled, not run\n")
      else()
        string(APPEND calls "  failures += fovea_doc::run(\"${page_name}:${block_start}\", &${ns}::main, argc, argv);\n")
      endif()
    elseif(NOT kind STREQUAL "partial")
      message(FATAL_ERROR "${PAGE}:${block_start}: a ```cpp block must be a whole program with int main(); "
                          "mark a fragment ```cpp partial")
    endif()
    string(APPEND bodies "namespace ${ns} {\n#line ${first_line} \"${PAGE}\"\n${block}}  // namespace ${ns}\n\n")
    continue()
  endif()

  # Remove the fence's indentation (blocks inside list items).
  if(indent_length GREATER 0)
    string(REGEX REPLACE "^ {0,${indent_length}}" "" line "${line}")
  endif()
  if(line MATCHES "^[ \t]*#[ \t]*include[ \t]*[<\"]")
    string(STRIP "${line}" include_line)
    string(FIND "${includes}" "${include_line}\n" seen)
    if(seen EQUAL -1)
      string(APPEND includes "${include_line}\n")
    endif()
    set(line "")  # keep the line count for #line
  endif()
  if(line MATCHES "(^|[^A-Za-z0-9_:])int[ \t]+main[ \t]*\\(")
    set(has_main TRUE)
  endif()
  string(APPEND block "${line}\n")
endforeach()

if(in_block)
  message(FATAL_ERROR "${PAGE}:${block_start}: ```cpp block is never closed")
endif()

set(source "// Generated from ${page_name} by docs/extract_snippets.cmake: edit the page, not this file.\n")
if(block_count GREATER 0)
  string(APPEND source "#include <fovea/fovea.hpp>\n${includes}")
endif()
string(APPEND source [=[
#include <cstdio>
#include <exception>

namespace fovea_doc {
inline int call(int (*program)(), int, char**) { return program(); }
inline int call(int (*program)(int, char**), int argc, char** argv) { return program(argc, argv); }
template <class Program>
int run(const char* where, Program program, int argc, char** argv) {
  std::printf("=== %s\n", where);
  std::fflush(stdout);
  try {
    const int status = call(program, argc, argv);
    std::fflush(stdout);
    if (status != 0) {
      std::fprintf(stderr, "FAILED %s: main returned %d\n", where, status);
      return 1;
    }
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "FAILED %s: exception: %s\n", where, e.what());
    return 1;
  }
  return 0;
}
}  // namespace fovea_doc

]=])
string(APPEND source "${bodies}")
string(APPEND source "#line 1 \"${OUTPUT}\"\nint main(int argc, char** argv) {\n  int failures = 0;\n")
string(APPEND source "${calls}")
string(APPEND source "  (void)argc;\n  (void)argv;\n  return failures == 0 ? 0 : 1;\n}\n")

string(REPLACE "${semicolon_mark}" ";" source "${source}")
string(REPLACE "${backslash_mark}" "\\" source "${source}")
string(REPLACE "${open_mark}" "[" source "${source}")
string(REPLACE "${close_mark}" "]" source "${source}")

# Rewrite only on change, so an edit to prose does not rebuild unchanged code.
file(WRITE "${OUTPUT}.new" "${source}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUTPUT}.new" "${OUTPUT}")
file(REMOVE "${OUTPUT}.new")
