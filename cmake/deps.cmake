# Every dependency is a Debian package found through pkg-config (see STACK-NOTES: the CMake
# config files of nats.c and hiredis do not work as shipped).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(NATS REQUIRED IMPORTED_TARGET libnats)
pkg_check_modules(PROTOBUFC REQUIRED IMPORTED_TARGET libprotobuf-c)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(UV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(PQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(CRYPTO REQUIRED IMPORTED_TARGET libcrypto)
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
find_program(PROTOC_C protoc-c REQUIRED)

# llhttp ships as C sources (node-llhttp); build them once as a static library, without our
# warnings: the generated parser has unused parameters.
set(LLHTTP_SRC_DIR /usr/share/llhttp CACHE PATH "node-llhttp sources")
set(LLHTTP_INCLUDE_DIR /usr/share/include/llhttp CACHE PATH "node-llhttp header")
add_library(vx_llhttp STATIC ${LLHTTP_SRC_DIR}/llhttp.c ${LLHTTP_SRC_DIR}/api.c ${LLHTTP_SRC_DIR}/http.c)
target_include_directories(vx_llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
set_target_properties(vx_llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON C_EXTENSIONS ON)
target_compile_options(vx_llhttp PRIVATE -w)
add_library(vx::llhttp ALIAS vx_llhttp)
