# meshhost_add_plugin(<target> SOURCES ... [LIBS ...]
#                     [OUTPUT_NAME name] [OUTPUT_DIRECTORY dir]
#                     [INSTALL_DESTINATION dir | NO_INSTALL] [COMPONENT component])
#
# Builds a meshhost plugin the one way every plugin is built, in-tree or third-party
# (DESIGN §2): a shared library named <OUTPUT_NAME or target>.so, hidden visibility and a
# version script so only the entry symbol `meshhost_plugin_v<MAJOR>` is exported, the SDK
# support library linked statically.
#
# Where the plugin lands:
#   in the meshhost tree (MESHHOST_PLUGIN_OUTPUT_DIR is set by the top-level project):
#     build/lib/meshhost/plugins, where the host in build/bin finds it without options;
#   out of tree: the calling directory's build dir (or CMAKE_LIBRARY_OUTPUT_DIRECTORY);
#   OUTPUT_DIRECTORY overrides both.
# `cmake --install` puts it in INSTALL_DESTINATION, by default <libdir>/meshhost/plugins,
# where a host installed under the same prefix looks; NO_INSTALL skips that.
#
# This file is included by the top-level CMakeLists.txt and, installed, by
# meshhostConfig.cmake, so it must work in both places.

include_guard(GLOBAL)
include(GNUInstallDirs)

function(meshhost_add_plugin name)
  cmake_parse_arguments(P "NO_INSTALL" "OUTPUT_NAME;OUTPUT_DIRECTORY;INSTALL_DESTINATION;COMPONENT"
                        "SOURCES;LIBS" ${ARGN})
  if(P_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "meshhost_add_plugin(${name}): unknown arguments: ${P_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT P_SOURCES)
    message(FATAL_ERROR "meshhost_add_plugin(${name}): SOURCES is required")
  endif()

  add_library(${name} MODULE ${P_SOURCES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON)
  if(P_OUTPUT_NAME)
    set_target_properties(${name} PROPERTIES OUTPUT_NAME "${P_OUTPUT_NAME}")
  endif()
  if(P_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${P_OUTPUT_DIRECTORY}")
  elseif(DEFINED MESHHOST_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${MESHHOST_PLUGIN_OUTPUT_DIR}")
  endif()

  # The support library: meshhostConfig.cmake names the variant that matches this
  # toolchain's C++ standard library (MESHHOST_SDK_SUPPORT_TARGET); in-tree it is the
  # library the host's build makes.
  if(MESHHOST_SDK_SUPPORT_TARGET)
    set(_support ${MESHHOST_SDK_SUPPORT_TARGET})
  elseif(TARGET meshhost::sdk_support)
    set(_support meshhost::sdk_support)
  else()
    set(_support meshhost_sdk_support)
  endif()
  target_link_libraries(${name} PRIVATE ${_support} ${P_LIBS})
  # Our own code builds warning-free (STYLE.md); a third party's is its own business.
  if(TARGET meshhost_warnings)
    target_link_libraries(${name} PRIVATE meshhost_warnings)
  endif()
  target_compile_features(${name} PRIVATE cxx_std_20)

  # Only the entry point leaves the plugin. -fvisibility=hidden does not hide the std::
  # template instantiations a plugin makes (libstdc++ marks namespace std visible), and
  # two plugins sharing those weak symbols with the host is how one toolchain's
  # std::string ends up called with another's; the version script hides everything else.
  set(_map "${CMAKE_BINARY_DIR}/meshhost/plugin-exports.map")
  file(CONFIGURE OUTPUT "${_map}" CONTENT "{\n  global: meshhost_plugin_v*;\n  local: *;\n};\n" @ONLY)
  target_link_options(${name} PRIVATE "-Wl,--version-script=${_map}" -Wl,--exclude-libs,ALL)
  set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS "${_map}")

  # A symbol left undefined would only show when the host loads the plugin; make it a
  # link error instead. Clang does not link the sanitizer runtimes into shared objects
  # (the executable provides them), so under sanitizers the check cannot hold.
  set(_flags "${CMAKE_CXX_FLAGS} ${CMAKE_MODULE_LINKER_FLAGS}")
  if(CMAKE_BUILD_TYPE)
    string(TOUPPER "${CMAKE_BUILD_TYPE}" _config)
    string(APPEND _flags " ${CMAKE_CXX_FLAGS_${_config}}")
  endif()
  if(NOT (CMAKE_CXX_COMPILER_ID MATCHES "Clang" AND (MESHHOST_SANITIZE OR _flags MATCHES "-fsanitize")))
    target_link_options(${name} PRIVATE -Wl,--no-undefined)
  endif()

  if(NOT P_NO_INSTALL)
    if(P_INSTALL_DESTINATION)
      set(_destination "${P_INSTALL_DESTINATION}")
    elseif(DEFINED MESHHOST_PLUGIN_SUBDIR)
      set(_destination "${MESHHOST_PLUGIN_SUBDIR}")
    else()
      set(_destination "${CMAKE_INSTALL_LIBDIR}/meshhost/plugins")
    endif()
    if(P_COMPONENT)
      set(_component "${P_COMPONENT}")
    else()
      set(_component plugins)
    endif()
    install(TARGETS ${name} LIBRARY DESTINATION "${_destination}" COMPONENT "${_component}")
  endif()
endfunction()
