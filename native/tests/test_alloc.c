/*
 * Arena allocator properties through the public API, against a model.
 *
 *  - a loan of n bytes succeeds iff the model has a run of ceil(n/granule)
 *    contiguous free granules (0 B always succeeds, > arena is TOOBIG),
 *    otherwise it fails with FERRY_E_FULL;
 *  - a granted block lies inside the arena, granule aligned, on free granules;
 *  - stats.arena_used and the shared bitmap (shm/layout.h) match the model;
 *  - publishing returns the unused tail of a loan and allocates the header;
 *    releases in any order give the space back;
 *  - the arena is entirely free (and loanable in one piece) at the end.
 */
#include "shm/layout.h"
#include "util.h"

#define MAXLOANS 512
#define NPUB 4

typedef struct {
  ferry_pub *pub;
  uint32_t token;
  uint64_t gran, ngran, size;
  uint8_t tag;
} loan_t;

typedef struct {
  ferry_channel *ch;
  ferry_channel_info ci;
  uint64_t nbits, g;
  uint8_t *used; /* model: 1 = allocated */
  uint64_t nused;
  loan_t loans[MAXLOANS];
  int nloans;
  int pub_loans[NPUB];
  ferry_pub *pubs[NPUB];
  uint8_t *rw;
  uint64_t rng;
  long n_ok, n_full, n_edge;
} model_t;

static uint64_t largest_run(const model_t *m) {
  uint64_t best = 0, cur = 0;
  for (uint64_t i = 0; i < m->nbits; i++) {
    if (m->used[i]) {
      cur = 0;
    } else if (++cur > best) {
      best = cur;
    }
  }
  return best;
}

static void mark(model_t *m, uint64_t g, uint64_t n, uint8_t v) {
  CHECK(g + n <= m->nbits);
  for (uint64_t i = g; i < g + n; i++) {
    CHECK(m->used[i] != v); /* allocating used or freeing free granules */
    m->used[i] = v;
  }
  if (v)
    m->nused += n;
  else
    m->nused -= n;
}

/* The shared bitmap and arena_used equal the model. */
static void check_exact(model_t *m) {
  ferry_stats st;
  OK(ferry_channel_stats(m->ch, &st));
  if (st.arena_used != m->nused * m->g) {
    fprintf(stderr, "arena_used %llu, model %llu\n", (unsigned long long)st.arena_used,
            (unsigned long long)(m->nused * m->g));
    exit(1);
  }
  const uint64_t *bm = m->ch->bitmap;
  for (uint64_t i = 0; i < m->nbits; i++) {
    int bit = (int)((bm[i >> 6] >> (i & 63)) & 1);
    if (bit != m->used[i]) {
      fprintf(stderr, "bitmap granule %llu = %d, model %d\n", (unsigned long long)i, bit, m->used[i]);
      exit(1);
    }
  }
}

static uint64_t pick_size(model_t *m) {
  uint64_t r = xorshift(&m->rng) % 100, a = m->ci.arena_size, g = m->g;
  if (r < 8) return 0;
  if (r < 38) return 1 + xorshift(&m->rng) % (4 * g);
  if (r < 68) { /* log-uniform over 1 B .. arena */
    int bits = 1 + (int)(xorshift(&m->rng) % 63);
    uint64_t v = xorshift(&m->rng) & ((bits >= 64 ? ~0ull : (1ull << bits) - 1));
    return v % a + 1;
  }
  if (r < 92) { /* exactly at the boundary of the largest free run */
    m->n_edge++;
    uint64_t L = largest_run(m);
    int d = (int)(xorshift(&m->rng) % 3) - 1;
    uint64_t s = L * g;
    if (d < 0) return s ? s - 1 : 0;
    return s + (uint64_t)d;
  }
  if (r < 96) return a;
  return a + 1 + xorshift(&m->rng) % 5;
}

static void do_loan(model_t *m, uint64_t size) {
  int p = (int)(xorshift(&m->rng) % NPUB);
  for (int k = 0; k < NPUB && m->pub_loans[p] >= FERRY_MAX_HELD; k++) p = (p + 1) % NPUB;
  if (m->pub_loans[p] >= FERRY_MAX_HELD || m->nloans >= MAXLOANS) return;
  uint64_t n = (size + m->g - 1) / m->g;
  ferry_msg_info li;
  int rc = ferry_pub_loan(m->pubs[p], size, &li);
  if (size > m->ci.arena_size) {
    CHECK_RC(rc, FERRY_E_TOOBIG);
    return;
  }
  bool expect = n == 0 || largest_run(m) >= n;
  if (!expect) {
    if (rc != FERRY_E_FULL) {
      fprintf(stderr, "loan of %llu B (%llu granules) with largest free run %llu: rc %d (%s), want FULL\n",
              (unsigned long long)size, (unsigned long long)n, (unsigned long long)largest_run(m), rc,
              ferry_err_name(rc));
      exit(1);
    }
    m->n_full++;
    check_exact(m);
    return;
  }
  if (rc != 0) {
    fprintf(stderr, "loan of %llu B (%llu granules) with largest free run %llu failed: %d (%s) [%s]\n",
            (unsigned long long)size, (unsigned long long)n, (unsigned long long)largest_run(m), rc,
            ferry_err_name(rc), ferry_last_error());
    exit(1);
  }
  m->n_ok++;
  CHECK(li.length == size);
  CHECK(li.offset % m->g == 0);
  uint64_t g0 = li.offset / m->g;
  if (n) {
    CHECK(g0 + n <= m->nbits);
    mark(m, g0, n, 1);
  }
  loan_t *L = &m->loans[m->nloans++];
  *L = (loan_t){m->pubs[p], li.token, g0, n, size, (uint8_t)(xorshift(&m->rng) | 1)};
  m->pub_loans[p]++;
  /* the whole loan is writable: tag its first and last bytes (and all of small ones) */
  if (size) {
    if (size <= 4096)
      memset(m->rw + li.offset, L->tag, size);
    else {
      m->rw[li.offset] = L->tag;
      m->rw[li.offset + size - 1] = L->tag;
    }
  }
}

static void do_unloan(model_t *m, int i) {
  loan_t L = m->loans[i];
  if (L.size) { /* nobody else wrote into it */
    uint64_t off = L.gran * m->g;
    CHECK(m->rw[off] == L.tag && m->rw[off + L.size - 1] == L.tag);
    if (L.size <= 4096)
      for (uint64_t j = 0; j < L.size; j++) CHECK(m->rw[off + j] == L.tag);
  }
  OK(ferry_pub_unloan(L.pub, L.token));
  CHECK_RC(ferry_pub_unloan(L.pub, L.token), FERRY_E_STATE);
  if (L.ngran) mark(m, L.gran, L.ngran, 0);
  for (int p = 0; p < NPUB; p++)
    if (m->pubs[p] == L.pub) m->pub_loans[p]--;
  m->loans[i] = m->loans[--m->nloans];
}

/* Phase 1: loans and unloans only, exact model. */
static void phase_loans(const char *name, uint64_t capacity, int ops, uint64_t seed) {
  model_t *m = calloc(1, sizeof *m);
  CHECK(m);
  m->rng = seed;
  OK(ferry_channel_create(name, capacity, 64, 0, &m->ch));
  OK(ferry_channel_info_get(m->ch, &m->ci));
  m->g = m->ci.granule;
  m->nbits = m->ci.arena_size / m->g;
  CHECK(m->ci.arena_size % m->g == 0 && m->nbits == m->ch->nbits);
  m->used = calloc(m->nbits, 1);
  CHECK(m->used);
  for (int p = 0; p < NPUB; p++) OK(ferry_pub_open(m->ch, FERRY_BP_ERROR, 0, &m->pubs[p]));
  m->rw = (uint8_t *)(uintptr_t)ferry_pub_arena(m->pubs[0]);
  CHECK(m->rw);

  for (int op = 0; op < ops; op++) {
    uint64_t r = xorshift(&m->rng) % 100;
    /* drift between nearly empty and nearly full so both regimes are covered */
    int fill_bias = (op / 500) % 2 ? 65 : 40;
    if (m->nloans && (r >= (uint64_t)fill_bias || m->nloans >= MAXLOANS - 1))
      do_unloan(m, (int)(xorshift(&m->rng) % (uint64_t)m->nloans));
    else
      do_loan(m, pick_size(m));
    if (op % 64 == 0) check_exact(m);
    if (op % 997 == 0) { /* bad tokens */
      CHECK_RC(ferry_pub_unloan(m->pubs[0], FERRY_MAX_HELD), FERRY_E_STATE);
      CHECK_RC(ferry_pub_unloan(m->pubs[0], 0xffffffffu), FERRY_E_STATE);
    }
  }
  check_exact(m);
  while (m->nloans) do_unloan(m, m->nloans - 1);
  check_exact(m);
  ferry_stats st;
  OK(ferry_channel_stats(m->ch, &st));
  CHECK(st.arena_used == 0);
  /* the free space is one piece again */
  ferry_msg_info li;
  OK(ferry_pub_loan(m->pubs[1], m->ci.arena_size, &li));
  CHECK(li.offset == 0);
  CHECK_RC(ferry_pub_loan(m->pubs[2], 1, &li), FERRY_E_FULL);
  OK(ferry_pub_loan(m->pubs[2], 0, &li)); /* 0 B needs no space */
  for (int p = 0; p < NPUB; p++) OK(ferry_pub_close(m->pubs[p])); /* close returns open loans */
  OK(ferry_channel_stats(m->ch, &st));
  CHECK(st.arena_used == 0 && st.publishers == 0);
  printf("  loans %s: arena %llu B, granule %llu, %llu granules: %ld ok, %ld full, %ld boundary probes\n", name,
         (unsigned long long)m->ci.arena_size, (unsigned long long)m->g, (unsigned long long)m->nbits, m->n_ok,
         m->n_full, m->n_edge);
  OK(ferry_channel_close(m->ch));
  CHECK(!shm_exists(name));
  free(m->used);
  free(m);
}

/* ---- phase 2: loans + publish (partial length, headers) + out-of-order release ---- */

enum { M_UNRECV = 1, M_HELD = 2, M_DONE = 3 };
typedef struct {
  uint64_t pg, pn, hg, hn, len;
  uint32_t hlen, token;
  int state;
} msg_t;

static uint8_t pay_byte(uint64_t seq, uint64_t i) { return (uint8_t)(seq * 131 + i * 7 + 1); }
static uint8_t hdr_byte(uint64_t seq, uint64_t i) { return (uint8_t)(seq * 17 + i * 3 + 5); }

static void phase_publish(const char *name, int ops, uint64_t seed) {
  const uint32_t ring = 32;
  model_t *m = calloc(1, sizeof *m);
  CHECK(m);
  m->rng = seed;
  OK(ferry_channel_create(name, 64 * 1024, ring, 0, &m->ch));
  OK(ferry_channel_info_get(m->ch, &m->ci));
  m->g = m->ci.granule;
  m->nbits = m->ci.arena_size / m->g;
  m->used = calloc(m->nbits, 1);
  for (int p = 0; p < NPUB; p++) OK(ferry_pub_open(m->ch, FERRY_BP_ERROR, 0, &m->pubs[p]));
  m->rw = (uint8_t *)(uintptr_t)ferry_pub_arena(m->pubs[0]);
  const uint8_t *ro = (const uint8_t *)(uintptr_t)m->ci.arena_ro;
  ferry_sub *sub;
  OK(ferry_sub_open(m->ch, NULL, &sub));

  int cap = ops + 1;
  msg_t *msgs = calloc((size_t)cap, sizeof *msgs);
  uint64_t tail = 0, next_recv = 0, head = 0;
  uint64_t held[FERRY_MAX_HELD];
  int nheld = 0;
  long n_pub = 0, n_pub_full = 0, n_recv = 0;

  for (int op = 0; op < ops; op++) {
    uint64_t r = xorshift(&m->rng) % 100;
    if (r < 30) {
      uint64_t s = xorshift(&m->rng) % 3 == 0 ? pick_size(m) : xorshift(&m->rng) % 3000;
      do_loan(m, s);
    } else if (r < 35 && m->nloans) {
      do_unloan(m, (int)(xorshift(&m->rng) % (uint64_t)m->nloans));
    } else if (r < 60 && m->nloans) { /* publish a loan: len <= loan, optional header */
      int i = (int)(xorshift(&m->rng) % (uint64_t)m->nloans);
      loan_t L = m->loans[i];
      uint64_t len = L.size ? xorshift(&m->rng) % (L.size + 1) : 0;
      if (xorshift(&m->rng) % 4 == 0) len = L.size;
      uint32_t hlen = xorshift(&m->rng) % 3 ? 0 : (uint32_t)(xorshift(&m->rng) % 400);
      uint8_t hdr[400];
      for (uint32_t j = 0; j < hlen; j++) hdr[j] = hdr_byte(tail, j);
      for (uint64_t j = 0; j < len; j++) m->rw[L.gran * m->g + j] = pay_byte(tail, j);
      uint64_t hn = (hlen + m->g - 1) / m->g;
      while (head < tail && msgs[head].state == M_DONE) head++; /* oldest message not released */
      bool expect = tail - head < ring && (hn == 0 || largest_run(m) >= hn);
      /* payload and header granules beyond the whole arena can never fit: TOOBIG, not FULL */
      bool never = (len + m->g - 1) / m->g + hn > m->nbits;
      ferry_msg_info pi;
      int rc = ferry_pub_publish(L.pub, L.token, len, hdr, hlen, &pi);
      if (!expect || never) {
        int want = never ? FERRY_E_TOOBIG : FERRY_E_FULL;
        if (rc != want) {
          fprintf(stderr, "publish (ring %llu/%u, payload %llu B, header %llu granules, largest run %llu): rc %d, want %s\n",
                  (unsigned long long)(tail - head), ring, (unsigned long long)len, (unsigned long long)hn,
                  (unsigned long long)largest_run(m), rc, ferry_err_name(want));
          exit(1);
        }
        n_pub_full++;
        if (!never) check_exact(m); /* a failed attempt swept every released message (TOOBIG fails before looking) */
        /* the loan is still ours: restore its tag bytes over the payload we wrote */
        if (L.size) {
          if (L.size <= 4096)
            memset(m->rw + L.gran * m->g, L.tag, L.size);
          else
            m->rw[L.gran * m->g] = m->rw[L.gran * m->g + L.size - 1] = L.tag;
        }
        continue;
      }
      if (rc) {
        fprintf(stderr, "publish failed unexpectedly: %d (%s) [%s]\n", rc, ferry_err_name(rc), ferry_last_error());
        exit(1);
      }
      CHECK(pi.seq == tail && pi.length == len && pi.offset == L.gran * m->g && pi.hdr_length == hlen);
      msg_t *M = &msgs[tail];
      uint64_t keep = (len + m->g - 1) / m->g;
      *M = (msg_t){L.gran, keep, 0, hn, len, hlen, 0, M_UNRECV};
      if (hn) {
        CHECK(pi.hdr_offset % m->g == 0);
        M->hg = pi.hdr_offset / m->g;
        mark(m, M->hg, hn, 1);
      }
      if (keep < L.ngran) mark(m, L.gran + keep, L.ngran - keep, 0); /* unused tail returned */
      CHECK_RC(ferry_pub_publish(L.pub, L.token, 0, NULL, 0, NULL), FERRY_E_STATE);
      for (int p = 0; p < NPUB; p++)
        if (m->pubs[p] == L.pub) m->pub_loans[p]--;
      m->loans[i] = m->loans[--m->nloans];
      tail++;
      n_pub++;
    } else if (r < 80) { /* receive in order */
      ferry_msg_info mi;
      int rc = ferry_sub_try_receive(sub, &mi);
      if (next_recv == tail) {
        CHECK_RC(rc, FERRY_E_AGAIN);
        continue;
      }
      OK(rc);
      msg_t *M = &msgs[next_recv];
      CHECK(mi.seq == next_recv && mi.length == M->len && mi.offset == M->pg * m->g && mi.hdr_length == M->hlen);
      for (uint64_t j = 0; j < M->len; j++) CHECK(ro[mi.offset + j] == pay_byte(mi.seq, j));
      if (M->hlen) {
        CHECK(mi.hdr_offset == M->hg * m->g);
        for (uint32_t j = 0; j < M->hlen; j++) CHECK(ro[mi.hdr_offset + j] == hdr_byte(mi.seq, j));
      }
      M->state = M_HELD;
      M->token = mi.token;
      held[nheld++] = next_recv++;
      n_recv++;
    } else if (nheld) { /* release in random order */
      int i = (int)(xorshift(&m->rng) % (uint64_t)nheld);
      msg_t *M = &msgs[held[i]];
      OK(ferry_sub_release(sub, M->token));
      if (M->pn) mark(m, M->pg, M->pn, 0);
      if (M->hn) mark(m, M->hg, M->hn, 0);
      M->state = M_DONE;
      held[i] = held[--nheld];
    }
    /* released messages may still be counted until a publisher reclaims them */
    ferry_stats st;
    OK(ferry_channel_stats(m->ch, &st));
    CHECK(st.arena_used >= m->nused * m->g);
    CHECK(st.tail == tail && st.published == tail);
  }
  /* drain */
  ferry_msg_info mi;
  while (next_recv < tail) {
    OK(ferry_sub_try_receive(sub, &mi));
    CHECK(mi.seq == next_recv);
    msgs[next_recv].token = mi.token;
    held[nheld++] = next_recv++;
  }
  while (nheld) {
    msg_t *M = &msgs[held[--nheld]];
    OK(ferry_sub_release(sub, M->token));
    if (M->pn) mark(m, M->pg, M->pn, 0);
    if (M->hn) mark(m, M->hg, M->hn, 0);
  }
  while (m->nloans) do_unloan(m, m->nloans - 1);
  CHECK(m->nused == 0);
  /* stats lag until a publisher reclaims: a 0-byte loan sweeps */
  ferry_msg_info li;
  OK(ferry_pub_loan(m->pubs[0], 0, &li));
  OK(ferry_pub_unloan(m->pubs[0], li.token));
  check_exact(m);
  OK(ferry_pub_loan(m->pubs[0], m->ci.arena_size, &li));
  OK(ferry_pub_unloan(m->pubs[0], li.token));
  ferry_stats st;
  OK(ferry_channel_stats(m->ch, &st));
  CHECK(st.arena_used == 0 && st.head == st.tail);
  printf("  publish %s: %ld published, %ld publish FULL, %ld received; loans %ld ok / %ld full\n", name, n_pub,
         n_pub_full, n_recv, m->n_ok, m->n_full);
  OK(ferry_sub_close(sub));
  for (int p = 0; p < NPUB; p++) OK(ferry_pub_close(m->pubs[p]));
  OK(ferry_channel_close(m->ch));
  CHECK(!shm_exists(name));
  free(msgs);
  free(m->used);
  free(m);
}

int main(int argc, char **argv) {
  test_init("alloc");
  uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 0x9e3779b97f4a7c15ull ^ (uint64_t)time(NULL);
  if (!seed) seed = 1;
  printf("test_alloc seed 0x%llx\n", (unsigned long long)seed);
  char name[96];
  uint64_t t0 = now_ns();
  /* 64 KiB: granule 64, 1024 granules (whole bitmap words) */
  phase_loans(test_name_sub(name, sizeof name, "alloc", "a"), 64 * 1024, 60000, seed);
  /* odd geometry: 16 MiB + 4 KiB gives granule 128 and 131104 granules (a partial last word) */
  phase_loans(test_name_sub(name, sizeof name, "alloc", "b"), (16ull << 20) + 4096, 4000, seed * 3 + 1);
  /* tiny: one page, 64 granules (a single bitmap word) */
  phase_loans(test_name_sub(name, sizeof name, "alloc", "c"), 1, 15000, seed * 5 + 1);
  phase_publish(test_name_sub(name, sizeof name, "alloc", "d"), 80000, seed * 7 + 3);
  CHECK_NO_LEFTOVERS();
  printf("test_alloc ok (%.2f s)\n", (double)(now_ns() - t0) / 1e9);
  return 0;
}
