# meshhost_add_plugin(NAME SOURCES ... [LIBS ...] [OUTPUT_DIRECTORY dir])
#
# Builds a meshhost plugin the one way every plugin is built, in-tree or third-party
# (DESIGN §2): a shared library named <NAME>.so, hidden visibility so only the entry
# symbol is exported, the SDK support library linked statically.
function(meshhost_add_plugin name)
  cmake_parse_arguments(P "" "OUTPUT_DIRECTORY" "SOURCES;LIBS" ${ARGN})
  add_library(${name} MODULE ${P_SOURCES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(P_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${P_OUTPUT_DIRECTORY}")
  elseif(DEFINED MESHHOST_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${MESHHOST_PLUGIN_OUTPUT_DIR}")
  endif()
  if(TARGET meshhost::sdk_support)
    set(_support meshhost::sdk_support)
  else()
    set(_support meshhost_sdk_support)
  endif()
  target_link_libraries(${name} PRIVATE ${_support} ${P_LIBS})
  # Everything but the entry point stays inside the plugin, including what the static
  # support library and the C++ runtime bring in.
  target_link_options(${name} PRIVATE -Wl,--exclude-libs,ALL -Wl,--no-undefined)
  target_compile_features(${name} PRIVATE cxx_std_20)
endfunction()
