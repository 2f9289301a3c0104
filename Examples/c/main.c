/*
 * The C API of EdgeDETR in one program: detect objects in a binary PPM (P6, 8-bit) image.
 *
 *     swift build -c release --product edgedetr-c-example
 *     .build/release/edgedetr-c-example model.edq image.ppm [threshold]
 *
 * (Any image converts to P6 PPM with e.g. `convert photo.jpg image.ppm`; the CLI's `edgedetr detect`
 * reads PNG and JPEG itself.) Prints one line per detection: label, score, x0 y0 x1 y1 in pixels.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgedetr.h"

/* Reads a P6 PPM with maxval 255 into a malloc'ed RGB buffer; NULL with a message on failure. */
static unsigned char *read_ppm(const char *path, int *width, int *height) {
    FILE *file = fopen(path, "rb");
    if (!file) { fprintf(stderr, "Error: %s: cannot open\n", path); return NULL; }
    int maxval = 0;
    if (fscanf(file, "P6 %d %d %d", width, height, &maxval) != 3 || maxval != 255 || *width < 1 || *height < 1
        || *width > 16384 || *height > 16384 || fgetc(file) == EOF) {
        fprintf(stderr, "Error: %s: not an 8-bit binary PPM (P6)\n", path);
        fclose(file);
        return NULL;
    }
    size_t bytes = (size_t)*width * (size_t)*height * 3;
    unsigned char *rgb = malloc(bytes);
    if (!rgb || fread(rgb, 1, bytes, file) != bytes) {
        fprintf(stderr, "Error: %s: truncated pixel data\n", path);
        free(rgb);
        fclose(file);
        return NULL;
    }
    fclose(file);
    return rgb;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s model.edq image.ppm [threshold]\n", argv[0]);
        return 2;
    }
    float threshold = argc == 4 ? strtof(argv[3], NULL) : 0.5f;
    char error[512];
    edgedetr_detector *detector = edgedetr_open(argv[1], 1, error, sizeof error);
    if (!detector) {
        fprintf(stderr, "Error: %s\n", error);
        return 1;
    }
    int width = 0, height = 0;
    unsigned char *rgb = read_ppm(argv[2], &width, &height);
    if (!rgb) {
        edgedetr_close(detector);
        return 1;
    }
    edgedetr_detection found[300];
    int count = edgedetr_detect(detector, rgb, width, height, 3 * (size_t)width, threshold, found, 300, error, sizeof error);
    free(rgb);
    if (count < 0) {
        fprintf(stderr, "Error: %s: %s\n", argv[2], error);
        edgedetr_close(detector);
        return 1;
    }
    for (int i = 0; i < count; i++) {
        const char *name = edgedetr_label_name(detector, found[i].label);
        printf("%s %.4f %.1f %.1f %.1f %.1f\n", name ? name : "?", found[i].score, found[i].x0, found[i].y0, found[i].x1,
               found[i].y1);
    }
    fprintf(stderr, "%d detections (model input %dx%d, arena %zu bytes)\n", count, edgedetr_input_width(detector),
            edgedetr_input_height(detector), edgedetr_arena_bytes(detector));
    edgedetr_close(detector);
    return 0;
}
