/*
 * EdgeDETR runtime, C API: load a model file written by `edgedetr quantize`, detect objects in RGB8
 * images of any size, read the detections. The implementation is EdgeRuntime (Swift, libc only),
 * exported by the EdgeDETRC module; this header is the whole contract.
 *
 *     char error[256];
 *     edgedetr_detector *detector = edgedetr_open("model.edq", 2, error, sizeof error);
 *     if (!detector) { fprintf(stderr, "%s\n", error); return 1; }
 *     edgedetr_detection found[100];
 *     int count = edgedetr_detect(detector, rgb, width, height, 3 * (size_t)width, 0.5f, found, 100,
 *                                 error, sizeof error);
 *     for (int i = 0; i < count; i++)
 *         printf("%s %.3f %.1f %.1f %.1f %.1f\n", edgedetr_label_name(detector, found[i].label),
 *                found[i].score, found[i].x0, found[i].y0, found[i].x1, found[i].y1);
 *     edgedetr_close(detector);
 *
 * Everything a run needs (the arena, scratch, packed weights) is allocated by edgedetr_open; the
 * model file stays mapped read-only until edgedetr_close. A detector runs one image at a time:
 * use one detector per calling thread. Errors are one line of text, never a crash.
 */
#ifndef EDGEDETR_H
#define EDGEDETR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this API; bumped when a declaration below changes. */
#define EDGEDETR_API_VERSION 1

typedef struct edgedetr_detector edgedetr_detector;

/* One detected object: the label id (the checkpoint's id2label key), the score in (0, 1), and the box
 * corners in pixels of the image given to edgedetr_detect. */
typedef struct edgedetr_detection {
    int32_t label;
    float score;
    float x0, y0, x1, y1;
} edgedetr_detection;

/* EDGEDETR_API_VERSION of the library linked in. */
int edgedetr_api_version(void);

/* Maps and validates the model file at `path` and prepares a detector running on `threads` threads
 * (1 to 64). Returns NULL on failure, with a one-line message in `error` (NUL-terminated, truncated
 * to `error_size` bytes; `error` may be NULL). */
edgedetr_detector *edgedetr_open(const char *path, int threads, char *error, size_t error_size);

/* Detects objects in an RGB8 image: `height` rows of `width` pixels (R, G, B bytes), row r starting at
 * rgb + r * row_bytes (row_bytes >= 3 * width). Writes the detections scoring above `threshold`, best
 * first, at most `capacity` of them and at most the model's top-k, to `detections`. Returns how many
 * were written, or -1 with a message in `error` (bad arguments, an image too large). */
int edgedetr_detect(edgedetr_detector *detector, const uint8_t *rgb, int width, int height, size_t row_bytes,
                    float threshold, edgedetr_detection *detections, int capacity, char *error, size_t error_size);

/* The name of label id `label` (the checkpoint's id2label), or NULL when the model has no such label.
 * Valid until edgedetr_close. */
const char *edgedetr_label_name(const edgedetr_detector *detector, int label);

/* The model's input size (images are resized to it) and its arena: the bytes of activations one
 * run works in, allocated once by edgedetr_open. */
int edgedetr_input_width(const edgedetr_detector *detector);
int edgedetr_input_height(const edgedetr_detector *detector);
size_t edgedetr_arena_bytes(const edgedetr_detector *detector);

/* Frees the detector and unmaps its model file. NULL is ignored. */
void edgedetr_close(edgedetr_detector *detector);

#ifdef __cplusplus
}
#endif

#endif /* EDGEDETR_H */
