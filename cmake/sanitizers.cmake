# VX_SANITIZE=address,undefined (or thread) instruments everything built after this point.
if(VX_SANITIZE)
    add_compile_options(-fsanitize=${VX_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    add_link_options(-fsanitize=${VX_SANITIZE})
endif()
