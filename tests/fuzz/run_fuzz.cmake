# One fuzz CTest: cmake -DFUZZER=exe -DCORPUS=dir -DWORK_DIR=dir -DSECONDS=n -DRUNS=n -P run_fuzz.cmake
# 1. replays every input in CORPUS (the checked-in corpus, read only) once;
# 2. fuzzes for SECONDS (at most RUNS iterations) on a fresh copy of it in WORK_DIR, so new
#    inputs and crash artifacts land in the build tree, never in the source tree.
foreach(var FUZZER CORPUS WORK_DIR SECONDS RUNS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzz.cmake: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}/corpus" "${WORK_DIR}/artifacts")

file(GLOB inputs LIST_DIRECTORIES false "${CORPUS}/*")
list(LENGTH inputs count)
if(count GREATER 0)
  message(STATUS "replaying ${count} inputs from ${CORPUS}")
  # Given files rather than a directory, libFuzzer runs each once and does not fuzz.
  execute_process(COMMAND "${FUZZER}" "-artifact_prefix=${WORK_DIR}/artifacts/" ${inputs}
    WORKING_DIRECTORY "${WORK_DIR}"
    RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "replaying ${CORPUS} failed (${status}); artifacts in ${WORK_DIR}/artifacts")
  endif()
  file(COPY ${inputs} DESTINATION "${WORK_DIR}/corpus")
else()
  message(STATUS "no corpus at ${CORPUS}: fuzzing from nothing")
endif()

message(STATUS "fuzzing for ${SECONDS}s (at most ${RUNS} runs) on ${WORK_DIR}/corpus")
execute_process(COMMAND "${FUZZER}"
    "-max_total_time=${SECONDS}" "-runs=${RUNS}" "-timeout=10" "-rss_limit_mb=2048"
    "-artifact_prefix=${WORK_DIR}/artifacts/" "-print_final_stats=1"
    "${WORK_DIR}/corpus"
  WORKING_DIRECTORY "${WORK_DIR}"
  RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "fuzzing failed (${status}); the crashing input is in ${WORK_DIR}/artifacts")
endif()
