# Run at install time (from CMakeLists.txt's install(CODE)): writes processing.pc for the
# prefix actually installed to, so `cmake --install <dir> --prefix <p>` is right too.
# Inputs: PC_PC_IN, PC_PC_TMP_DIR (scratch), PC_LIBDIR, PC_INCLUDEDIR, PC_VERSION,
# PC_DESCRIPTION, PC_LIBS_PRIVATE; CMAKE_INSTALL_PREFIX is the install prefix.
set(PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
foreach(kind IN ITEMS LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${PC_${kind}}")
    set(PC_${kind}_FULL "${PC_${kind}}")
  else()
    set(PC_${kind}_FULL "\${prefix}/${PC_${kind}}")
  endif()
endforeach()
# One scratch file per destination: installs to different prefixes may run at once.
string(MD5 _pc_key "$ENV{DESTDIR}|${CMAKE_INSTALL_PREFIX}")
set(PC_PC_TMP "${PC_PC_TMP_DIR}/${_pc_key}/processing.pc")
configure_file("${PC_PC_IN}" "${PC_PC_TMP}" @ONLY)
if(IS_ABSOLUTE "${PC_LIBDIR}")
  set(_pc_dest "${PC_LIBDIR}/pkgconfig")
else()
  set(_pc_dest "${CMAKE_INSTALL_PREFIX}/${PC_LIBDIR}/pkgconfig")
endif()
# file(INSTALL) honours DESTDIR and records the file in install_manifest.txt.
file(INSTALL DESTINATION "${_pc_dest}" TYPE FILE FILES "${PC_PC_TMP}")
file(REMOVE_RECURSE "${PC_PC_TMP_DIR}/${_pc_key}")
