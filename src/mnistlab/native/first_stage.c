/* A CNN's first stage in one pass: 3x3 convolution of a one-channel image, 2x2 max pooling, relu.

   relu(max over each 2x2 window of (conv(x) + bias)), for F filters (a multiple of 16, at most 64).
   The forward pass writes only the pooled output (F values per window, channels last) and, per value,
   one byte: which of the window's four positions won, or 4 where relu cut it to zero. The backward
   pass turns the pooled gradient into the filters' gradient directly from those bytes and the image,
   so the 26x26xF convolution output, its int64 pooling indices and its gradient never exist.

   Arithmetic is fp32; the output is fp32 or bf16 (rounded to nearest even). Work is split over the
   batch with OpenMP (the process's runtime: torch's). The gradient is summed per thread, then over
   the threads in order, so a result does not depend on which thread finished first. */

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
typedef uint32_t vu __attribute__((vector_size(64)));
typedef uint16_t vh __attribute__((vector_size(32)));
typedef uint8_t vb __attribute__((vector_size(16)));
#define LANES 16

static inline vf load_f32(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void store_f32(float *p, vf v) { memcpy(p, &v, sizeof v); }

static inline vf load_bf16(const uint16_t *p) {
    vh h; memcpy(&h, p, sizeof h);
    vu u = __builtin_convertvector(h, vu) << 16;
    vf f; memcpy(&f, &u, sizeof f); return f;
}

static inline void store_bf16(uint16_t *p, vf f) {
    vu u; memcpy(&u, &f, sizeof u);
    u += 0x7FFF + ((u >> 16) & 1);
    vh h = __builtin_convertvector(u >> 16, vh); memcpy(p, &h, sizeof h);
}

static inline vf blend(vi mask, vf yes, vf no) { return (vf)((mask & (vi)yes) | (~mask & (vi)no)); }

/* The 4x4 pixels under pooled window (py, px): the 2x2 window's four 3x3 patches. */
static inline void window_pixels(const float *image, int width, int py, int px, float pixels[16]) {
    const float *top = image + 2 * py * width + 2 * px;
    for (int r = 0; r < 4; r++) for (int q = 0; q < 4; q++) pixels[r * 4 + q] = top[r * width + q];
}

static inline __attribute__((always_inline)) void forward(
    const float *restrict x, const float *restrict weight, const float *restrict bias, int batch, int height, int width,
    void *restrict out, int out_bf16, uint8_t *restrict winner, const int vectors) {
    const int filters = vectors * LANES, rows = (height - 2) / 2, cols = (width - 2) / 2;
    vf w[9][4], b[4];
    for (int v = 0; v < vectors; v++) {
        float column[LANES];
        for (int k = 0; k < 9; k++) {
            for (int l = 0; l < LANES; l++) column[l] = weight[(v * LANES + l) * 9 + k];
            w[k][v] = load_f32(column);
        }
        b[v] = load_f32(bias + v * LANES);
    }
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < batch; n++) {
        const float *image = x + (size_t)n * height * width;
        for (int py = 0; py < rows; py++) for (int px = 0; px < cols; px++) {
            float pixels[16];
            window_pixels(image, width, py, px, pixels);
            vf best[4]; vi which[4];
            for (int a = 0; a < 4; a++) {
                const int dy = a >> 1, dx = a & 1;
                vf sum[4];
                for (int v = 0; v < vectors; v++) sum[v] = b[v];
                for (int ky = 0; ky < 3; ky++) for (int kx = 0; kx < 3; kx++) {
                    const float pixel = pixels[(dy + ky) * 4 + dx + kx];
                    for (int v = 0; v < vectors; v++) sum[v] += w[ky * 3 + kx][v] * pixel;
                }
                for (int v = 0; v < vectors; v++) {
                    if (a == 0) { best[v] = sum[v]; which[v] = (vi){0}; continue; }
                    vi better = sum[v] > best[v];
                    best[v] = blend(better, sum[v], best[v]);
                    which[v] = (better & a) | (~better & which[v]);
                }
            }
            const size_t at = (((size_t)n * rows + py) * cols + px) * filters;
            for (int v = 0; v < vectors; v++) {
                vi on = best[v] > 0;
                vf value = (vf)(on & (vi)best[v]);
                if (winner) { vb bytes = __builtin_convertvector((on & which[v]) | (~on & 4), vb); memcpy(winner + at + v * LANES, &bytes, sizeof bytes); }
                if (out_bf16) store_bf16((uint16_t *)out + at + v * LANES, value);
                else store_f32((float *)out + at + v * LANES, value);
            }
        }
    }
}

static inline __attribute__((always_inline)) void backward(
    const float *restrict x, const void *restrict grad, int grad_bf16, const uint8_t *restrict winner,
    int batch, int height, int width, float *restrict weight_grad, float *restrict bias_grad, const int vectors) {
    const int filters = vectors * LANES, rows = (height - 2) / 2, cols = (width - 2) / 2, per_thread = 10 * filters;
    float *partial = calloc((size_t)omp_get_max_threads() * per_thread, sizeof(float));
    int threads = 1;
    #pragma omp parallel
    {
        vf dw[9][4], db[4];
        for (int v = 0; v < vectors; v++) { db[v] = (vf){0}; for (int k = 0; k < 9; k++) dw[k][v] = (vf){0}; }
        #pragma omp for schedule(static)
        for (int n = 0; n < batch; n++) {
            const float *image = x + (size_t)n * height * width;
            for (int py = 0; py < rows; py++) for (int px = 0; px < cols; px++) {
                const size_t at = (((size_t)n * rows + py) * cols + px) * filters;
                float pixels[16];
                window_pixels(image, width, py, px, pixels);
                for (int v = 0; v < vectors; v++) {
                    vf g = grad_bf16 ? load_bf16((const uint16_t *)grad + at + v * LANES) : load_f32((const float *)grad + at + v * LANES);
                    vb bytes; memcpy(&bytes, winner + at + v * LANES, sizeof bytes);
                    vi which = __builtin_convertvector(bytes, vi);
                    db[v] += (vf)((which < 4) & (vi)g);
                    for (int a = 0; a < 4; a++) {
                        const int dy = a >> 1, dx = a & 1;
                        vf here = (vf)((which == a) & (vi)g);
                        for (int ky = 0; ky < 3; ky++) for (int kx = 0; kx < 3; kx++)
                            dw[ky * 3 + kx][v] += here * pixels[(dy + ky) * 4 + dx + kx];
                    }
                }
            }
        }
        float *mine = partial + (size_t)omp_get_thread_num() * per_thread;
        for (int v = 0; v < vectors; v++) {
            for (int k = 0; k < 9; k++) store_f32(mine + k * filters + v * LANES, dw[k][v]);
            store_f32(mine + 9 * filters + v * LANES, db[v]);
        }
        #pragma omp single
        threads = omp_get_num_threads();
    }
    for (int t = 0; t < threads; t++) {
        const float *theirs = partial + (size_t)t * per_thread;
        for (int f = 0; f < filters; f++) {
            for (int k = 0; k < 9; k++) weight_grad[f * 9 + k] += theirs[k * filters + f];
            bias_grad[f] += theirs[9 * filters + f];
        }
    }
    free(partial);
}

/* Runs `call` with `vectors` (filters / 16) as a constant, so each filter count gets its own unrolled code;
   returns 1 for a filter count without one. */
#define WITH_VECTORS(filters, call) switch (filters) { \
        case 16: { const int vectors = 1; call; return 0; } \
        case 32: { const int vectors = 2; call; return 0; } \
        case 48: { const int vectors = 3; call; return 0; } \
        case 64: { const int vectors = 4; call; return 0; } \
        default: return 1; \
    }

/* x: batch x height x width fp32. weight: filters x 9 and bias: filters, fp32. out: batch x rows x cols x
   filters, bf16 if out_bf16 else fp32. winner: the same shape in bytes, or NULL when no gradient is needed. */
int first_stage_forward(const float *x, const float *weight, const float *bias, int batch, int height, int width,
                        int filters, void *out, int out_bf16, uint8_t *winner) {
    WITH_VECTORS(filters, forward(x, weight, bias, batch, height, width, out, out_bf16, winner, vectors))
}

/* grad: batch x rows x cols x filters, bf16 if grad_bf16 else fp32. Adds the filters' gradient to
   weight_grad (filters x 9) and the bias gradient to bias_grad (filters). */
int first_stage_backward(const float *x, const void *grad, int grad_bf16, const uint8_t *winner, int batch, int height,
                         int width, int filters, float *weight_grad, float *bias_grad) {
    WITH_VECTORS(filters, backward(x, grad, grad_bf16, winner, batch, height, width, weight_grad, bias_grad, vectors))
}
