// stb_image and stb_image_write compiled from Debian's headers inside the fuzz
// build, so that the sanitizers and libFuzzer's coverage see the decoder that
// read_image calls (Debian's libstb.so is neither instrumented nor linked here).

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_write.h>
