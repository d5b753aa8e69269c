# House warnings (STYLE.md). vx_warnings(target) applies them; VX_WERROR makes them errors.
set(VX_WARNING_FLAGS
    -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
    -Wvla -Wcast-qual -Wimplicit-fallthrough)
function(vx_warnings target)
    target_compile_options(${target} PRIVATE ${VX_WARNING_FLAGS})
    if(VX_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
endfunction()
