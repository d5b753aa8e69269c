# VX_SANITIZE=address,undefined (or thread) instruments everything built after this point.
if(VX_SANITIZE)
    add_compile_options(-fsanitize=${VX_SANITIZE} -fno-omit-frame-pointer)
    # A finding of UBSan fails the test instead of scrolling by (ASan stops at its first; TSan
    # reports each race and then exits with status 66).
    if(VX_SANITIZE MATCHES "undefined")
        add_compile_options(-fno-sanitize-recover=undefined)
    endif()
    add_link_options(-fsanitize=${VX_SANITIZE})
endif()
