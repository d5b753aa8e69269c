# House warnings (STYLE.md) and hardening. vx_warnings(target) applies the warnings; VX_WERROR
# makes them errors. Hardening applies to everything built, our code and the llhttp sources.
set(VX_WARNING_FLAGS
    -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
    -Wvla -Wcast-qual -Wimplicit-fallthrough -Wwrite-strings -Wundef
    -Werror=implicit-function-declaration)
function(vx_warnings target)
    target_compile_options(${target} PRIVATE ${VX_WARNING_FLAGS})
    if(VX_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
endfunction()

# Stack protector, fortified libc calls (they need the optimiser, so not in Debug builds, and the
# sanitizers intercept the plain calls, not the fortified ones, so not in sanitizer builds),
# position-independent executables and full RELRO (the GOT read-only after start-up, no lazy
# binding).
include(CheckPIESupported)
check_pie_supported()
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
add_compile_options(-fstack-protector-strong)
if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug" AND NOT VX_SANITIZE)
    add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)
endif()
add_link_options(-Wl,-z,relro,-z,now)
