// Weight gradient of a depthwise convolution on CPU (float32, NHWC, padding K/2, no dilation, K = 3/5/7):
//   dw[c, i, j] = sum over n, oh, ow of dy[n, oh, ow, c] * x[n, oh*S + i - K/2, ow*S + j - K/2, c]
// Compiled and loaded by supernet/_dwgrad.py (see there for why it exists and when it is used).
//
// Work is split into blocks of CB channels (one 64-byte vector). For each image, a block's input plane is
// copied once into a zero-padded buffer; then each (output row, kernel row) pair keeps K vectors of partial
// sums in registers along the output row. Images run outermost so x[n] and dy[n] stay in cache while every
// block uses them. Blocks are split between `threads` POSIX threads; the summation order does not depend
// on the thread count, so the result is deterministic.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CB 16
typedef float vec __attribute__((vector_size(CB * sizeof(float)), aligned(4)));

#define ROW(KK)                                                                                     \
  static void row##KK(const float *d, size_t dstep, const float *xp, int OW, int S, float *a) {     \
    vec r[KK];                                                                                      \
    _Pragma("GCC unroll 8") for (int j = 0; j < KK; j++) r[j] = (vec){0};                           \
    for (int ow = 0; ow < OW; ow++, d += dstep, xp += S * CB) {                                     \
      vec dv = *(const vec *)d;                                                                     \
      _Pragma("GCC unroll 8") for (int j = 0; j < KK; j++) r[j] += dv * *(const vec *)(xp + j * CB); \
    }                                                                                               \
    _Pragma("GCC unroll 8") for (int j = 0; j < KK; j++) *(vec *)(a + j * CB) += r[j];              \
  }
ROW(3)
ROW(5)
ROW(7)

typedef void (*row_fn)(const float *, size_t, const float *, int, int, float *);

typedef struct {
  const float *x, *dy;
  float *acc;
  int N, H, W, C, OH, OW, K, S, c_begin, c_end, status;
} job_t;

static void *run(void *arg) {
  job_t *j = arg;
  int N = j->N, H = j->H, W = j->W, C = j->C, OH = j->OH, OW = j->OW, K = j->K, S = j->S, P = K / 2;
  int WP = W + 2 * P;
  row_fn row = K == 3 ? row3 : K == 5 ? row5 : row7;
  float *plane = calloc((size_t)(H + 2 * P) * WP * CB, sizeof(float));
  float *dbuf = calloc((size_t)OW * CB, sizeof(float));
  if (!plane || !dbuf) {
    free(plane), free(dbuf), j->status = 2;
    return NULL;
  }
  for (int n = 0; n < N; n++)
    for (int c0 = j->c_begin; c0 < j->c_end; c0 += CB) {
      int cb = C - c0 < CB ? C - c0 : CB;
      float *a = j->acc + (size_t)c0 * K * K;
      for (int h = 0; h < H; h++) {
        const float *src = j->x + (((size_t)n * H + h) * W) * C + c0;
        float *dst = plane + ((size_t)(h + P) * WP + P) * CB;
        if (cb == CB)
          for (int w = 0; w < W; w++) *(vec *)(dst + w * CB) = *(const vec *)(src + (size_t)w * C);
        else
          for (int w = 0; w < W; w++) memcpy(dst + w * CB, src + (size_t)w * C, sizeof(float) * cb);
      }
      for (int oh = 0; oh < OH; oh++) {
        const float *d = j->dy + (((size_t)n * OH + oh) * OW) * C + c0;
        size_t dstep = C;
        if (cb < CB) {  // the short last block: its output row, zero-padded to CB channels
          for (int ow = 0; ow < OW; ow++) memcpy(dbuf + (size_t)ow * CB, d + (size_t)ow * C, sizeof(float) * cb);
          d = dbuf, dstep = CB;
        }
        for (int i = 0; i < K; i++) {
          int ih = oh * S + i;  // row in the padded plane
          if (ih < P || ih >= H + P) continue;  // a row of padding adds nothing
          row(d, dstep, plane + (size_t)ih * WP * CB, OW, S, a + (size_t)i * K * CB);
        }
      }
    }
  free(plane), free(dbuf);
  return NULL;
}

// x: (N, H, W, C), dy: (N, OH, OW, C), dw: (C, K, K), all contiguous. Returns 0 on success, 1 for an
// unsupported kernel size or shape, 2 when out of memory.
int dw_weight_grad(const float *x, const float *dy, float *dw, int N, int H, int W, int C, int OH, int OW,
                   int K, int S, int threads) {
  if ((K != 3 && K != 5 && K != 7) || S < 1 || OH != (H - 1) / S + 1 || OW != (W - 1) / S + 1) return 1;
  int blocks = (C + CB - 1) / CB;
  if (threads < 1) threads = 1;
  if (threads > blocks) threads = blocks;
  float *acc = calloc((size_t)blocks * CB * K * K, sizeof(float));  // per block: K*K vectors of CB sums
  job_t *jobs = calloc((size_t)threads, sizeof(job_t));
  pthread_t *tids = calloc((size_t)threads, sizeof(pthread_t));
  if (!acc || !jobs || !tids) return free(acc), free(jobs), free(tids), 2;
  int status = 0;
  for (int t = 0; t < threads; t++) {
    jobs[t] = (job_t){x, dy, acc, N, H, W, C, OH, OW, K, S, (blocks * t / threads) * CB,
                      (blocks * (t + 1) / threads) * CB, 0};
    if (t > 0 && pthread_create(&tids[t], NULL, run, &jobs[t]) != 0) jobs[t].status = -1;
  }
  run(&jobs[0]);
  for (int t = 1; t < threads; t++) {
    if (jobs[t].status == -1) jobs[t].status = 0, run(&jobs[t]);  // no thread: do its share here
    else pthread_join(tids[t], NULL);
  }
  for (int t = 0; t < threads; t++) status = jobs[t].status > status ? jobs[t].status : status;
  for (int c = 0; c < C && status == 0; c++)
    for (int t = 0; t < K * K; t++) dw[(size_t)c * K * K + t] = acc[(size_t)(c / CB) * CB * K * K + t * CB + c % CB];
  free(acc), free(jobs), free(tids);
  return status;
}
