# Runs PROGRAM and checks that it exits with 0 and that its stdout is
# exactly the contents of EXPECTED.
#   cmake -DPROGRAM=... -DEXPECTED=... [-DACTUAL=file] [-DEMULATOR=a|b|c]
#         -P run_and_compare.cmake
# EMULATOR (CMAKE_CROSSCOMPILING_EMULATOR with "|" for ";") runs the
# program when it was cross-compiled. ACTUAL, if given, receives the
# program's stdout, so a changed behaviour can be inspected or reviewed.
foreach(var PROGRAM EXPECTED)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_and_compare: -D${var}=... is required")
  endif()
endforeach()
if(NOT EXISTS "${EXPECTED}")
  message(FATAL_ERROR "run_and_compare: no expected output ${EXPECTED}")
endif()

set(command "${PROGRAM}")
if(DEFINED EMULATOR AND NOT EMULATOR STREQUAL "")
  string(REPLACE "|" ";" emulator "${EMULATOR}")
  set(command ${emulator} "${PROGRAM}")
endif()

# stderr is left alone, so that a failing program's report reaches ctest.
execute_process(COMMAND ${command}
  OUTPUT_VARIABLE actual
  RESULT_VARIABLE status)
if(DEFINED ACTUAL AND NOT ACTUAL STREQUAL "")
  file(WRITE "${ACTUAL}" "${actual}")
endif()
# Reports go through message(NOTICE), which prints text as it is; the
# FATAL_ERROR that follows would rewrap it.
if(NOT status STREQUAL "0")
  if(NOT actual STREQUAL "")
    message(NOTICE "its stdout:\n${actual}")
  endif()
  message(FATAL_ERROR "${PROGRAM} failed (exit status: ${status})")
endif()

file(READ "${EXPECTED}" expected)
if(NOT actual STREQUAL expected)
  set(diff_text "")
  find_program(DIFF diff)
  if(DIFF AND DEFINED ACTUAL AND NOT ACTUAL STREQUAL "")
    execute_process(COMMAND ${DIFF} -u "${EXPECTED}" "${ACTUAL}"
      OUTPUT_VARIABLE diff_text)
  endif()
  if(diff_text STREQUAL "")
    set(diff_text "--- expected\n${expected}--- actual\n${actual}")
  endif()
  message(NOTICE "${diff_text}")
  message(FATAL_ERROR "${PROGRAM}: output differs from ${EXPECTED}")
endif()
