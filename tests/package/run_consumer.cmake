# Builds and runs tests/package as a user would consume fovea.
#   MODE=find_package: cmake --install fovea into a fresh prefix, then find_package.
#   MODE=add_subdirectory: the consumer embeds fovea's source tree.
file(REMOVE_RECURSE ${WORK_DIR})
set(consumer_args -DFOVEA_CONSUMER_MODE=${MODE})
if(MODE STREQUAL "find_package")
  execute_process(COMMAND ${CMAKE_COMMAND} --install ${FOVEA_BINARY_DIR} --prefix ${WORK_DIR}/prefix
                  RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "cmake --install failed: ${rc}")
  endif()
  list(APPEND consumer_args -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
else()
  list(APPEND consumer_args -DFOVEA_SOURCE_DIR=${FOVEA_SOURCE_DIR})
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${FOVEA_SOURCE_DIR}/tests/package -B ${WORK_DIR}/build
                        -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Release ${consumer_args}
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the consumer failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the consumer failed: ${rc}")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "the consumer program failed: ${rc}")
endif()
