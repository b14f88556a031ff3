# Installs the SDK (component "sdk") so a third party builds plugins against it with
#   find_package(meshhost) + meshhost_add_plugin(...)
# Included at the end of sdk/CMakeLists.txt, so CMAKE_CURRENT_SOURCE_DIR is sdk/.
#
# Installed layout under the prefix:
#   include/meshhost/**                     public headers, testing/ fakes included
#   <libdir>/libmeshhost_sdk_support.a      the support library, built by this toolchain
#   <libdir>/cmake/meshhost/                meshhostConfig.cmake, version, targets,
#                                           MeshhostPlugin.cmake
#   share/meshhost/sdk_support/             the support library's sources, for a plugin
#                                           built with another C++ standard library
#
# Why sources as well: plugins may use another compiler or standard library than the host
# (DESIGN §2), but an archive compiled against libstdc++ cannot be linked into a libc++
# plugin (its std:: symbols and layouts are libstdc++'s). meshhostConfig.cmake uses the
# archive when the consumer's standard library matches this build's, and otherwise
# compiles the same sources with the consumer's toolchain.

include(CMakePackageConfigHelpers)
include(CheckCXXSourceCompiles)

set(MESHHOST_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/meshhost")
set(MESHHOST_INSTALL_SUPPORT_SRCDIR "${CMAKE_INSTALL_DATADIR}/meshhost/sdk_support")

# Exported as meshhost::sdk and meshhost::sdk_support.
set_target_properties(meshhost_sdk PROPERTIES EXPORT_NAME sdk)
set_target_properties(meshhost_sdk_support PROPERTIES EXPORT_NAME sdk_support)

# Which C++ standard library this build uses, so a consumer can tell whether the
# installed archive is linkable for it.
check_cxx_source_compiles([=[
#include <cstddef>
#ifndef _LIBCPP_VERSION
#error not libc++
#endif
int main() { return 0; }
]=] MESHHOST_SDK_USES_LIBCXX)
if(MESHHOST_SDK_USES_LIBCXX)
  set(MESHHOST_SDK_STDLIB "libc++")
else()
  set(MESHHOST_SDK_STDLIB "libstdc++")
endif()

install(DIRECTORY include/meshhost
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
  COMPONENT sdk
  FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")

install(TARGETS meshhost_sdk meshhost_sdk_support
  EXPORT meshhostTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT sdk
  INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

install(EXPORT meshhostTargets
  NAMESPACE meshhost::
  FILE meshhostTargets.cmake
  DESTINATION "${MESHHOST_INSTALL_CMAKEDIR}"
  COMPONENT sdk)

# The support library's sources (tests excluded) and the list to build them from.
get_target_property(_mh_support_sources meshhost_sdk_support SOURCES)
set(_mh_installed_sources "")
foreach(_src IN LISTS _mh_support_sources)
  cmake_path(ABSOLUTE_PATH _src BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" OUTPUT_VARIABLE _abs)
  cmake_path(RELATIVE_PATH _abs BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}/src" OUTPUT_VARIABLE _rel)
  list(APPEND _mh_installed_sources "${_rel}")
endforeach()
install(DIRECTORY src/
  DESTINATION "${MESHHOST_INSTALL_SUPPORT_SRCDIR}"
  COMPONENT sdk
  FILES_MATCHING PATTERN "*.cpp" PATTERN "*.hpp" PATTERN "*.h" PATTERN "*.c"
  PATTERN "*_test.cpp" EXCLUDE)

set(_mh_gen "${CMAKE_CURRENT_BINARY_DIR}/package")
file(CONFIGURE OUTPUT "${_mh_gen}/meshhostSupportSources.cmake" CONTENT
  "# Generated: the SDK support library's sources, relative to share/meshhost/sdk_support.\nset(MESHHOST_SDK_SUPPORT_SOURCES @_mh_installed_sources@)\nset(MESHHOST_SDK_STDLIB \"@MESHHOST_SDK_STDLIB@\")\n"
  @ONLY)

configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/meshhostConfig.cmake.in"
  "${_mh_gen}/meshhostConfig.cmake"
  INSTALL_DESTINATION "${MESHHOST_INSTALL_CMAKEDIR}"
  PATH_VARS MESHHOST_INSTALL_SUPPORT_SRCDIR)
write_basic_package_version_file("${_mh_gen}/meshhostConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)

install(FILES
  "${_mh_gen}/meshhostConfig.cmake"
  "${_mh_gen}/meshhostConfigVersion.cmake"
  "${_mh_gen}/meshhostSupportSources.cmake"
  "${CMAKE_CURRENT_LIST_DIR}/MeshhostPlugin.cmake"
  DESTINATION "${MESHHOST_INSTALL_CMAKEDIR}"
  COMPONENT sdk)
