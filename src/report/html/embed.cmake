# Turns report.html into a C++ raw string (memtrace_html_template.inc), so the
# page is edited as HTML and shipped inside the library.
file(READ "${INPUT}" content)
string(FIND "${content}" ")memtrace_html\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter")
endif()
file(WRITE "${OUTPUT}.tmp" "constexpr char kHtmlTemplate[] = R\"memtrace_html(${content})memtrace_html\";\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
