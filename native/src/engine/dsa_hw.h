/*
 * engine/dsa_hw.h — Intel DSA's formats and instructions (engine/dsa_hw.c):
 * the 64-byte work descriptor and the 32-byte completion record (the Linux
 * uapi header's structs when <linux/idxd.h> is installed, our own copy of
 * the published layout otherwise; static asserts pin sizes and offsets
 * either way), completion status names and their FerryError codes, CPUID
 * feature bits, and the submission / wait instructions (MOVDIR64B, ENQCMD,
 * UMONITOR/UMWAIT) written as .byte encodings so any x86-64 gcc assembles
 * them; they are only executed after CPUID said the CPU has them.
 *
 * Shared by the engine (engine/dsa.c), the emulated device (engine/dsa_emu.c)
 * and the idxd work-queue portal (engine/dsa_idxd.c).
 */
#ifndef FERRY_ENGINE_DSA_HW_H
#define FERRY_ENGINE_DSA_HW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__has_include)
#if __has_include(<linux/idxd.h>) && !defined(FERRY_DSA_OWN_STRUCTS)
#include <linux/idxd.h>
#define FERRY_DSA_UAPI 1
#endif
#endif

#ifndef FERRY_DSA_UAPI
/* The published layout (Intel DSA architecture specification; the same fields as linux/idxd.h). */
enum { DSA_OPCODE_NOOP = 0, DSA_OPCODE_BATCH = 1, DSA_OPCODE_DRAIN = 2, DSA_OPCODE_MEMMOVE = 3, DSA_OPCODE_MEMFILL = 4 };
#define IDXD_OP_FLAG_FENCE 0x0001
#define IDXD_OP_FLAG_BOF 0x0002
#define IDXD_OP_FLAG_CRAV 0x0004
#define IDXD_OP_FLAG_RCR 0x0008
#define IDXD_OP_FLAG_RCI 0x0010
#define IDXD_OP_FLAG_CRSTS 0x0020
#define IDXD_OP_FLAG_CR 0x0080
#define IDXD_OP_FLAG_CC 0x0100
#define IDXD_OP_FLAG_STORD 0x2000
#define IDXD_OP_FLAG_DRDBK 0x4000
#define IDXD_OP_FLAG_DSTS 0x8000
enum {
  DSA_COMP_NONE = 0, DSA_COMP_SUCCESS, DSA_COMP_SUCCESS_PRED, DSA_COMP_PAGE_FAULT_NOBOF, DSA_COMP_PAGE_FAULT_IR,
  DSA_COMP_BATCH_FAIL, DSA_COMP_BATCH_PAGE_FAULT, DSA_COMP_DR_OFFSET_NOINC, DSA_COMP_DR_OFFSET_ERANGE, DSA_COMP_DIF_ERR,
  DSA_COMP_BAD_OPCODE = 0x10, DSA_COMP_INVALID_FLAGS, DSA_COMP_NOZERO_RESERVE, DSA_COMP_XFER_ERANGE,
  DSA_COMP_DESC_CNT_ERANGE, DSA_COMP_DR_ERANGE, DSA_COMP_OVERLAP_BUFFERS, DSA_COMP_DCAST_ERR, DSA_COMP_DESCLIST_ALIGN,
  DSA_COMP_INT_HANDLE_INVAL, DSA_COMP_CRA_XLAT, DSA_COMP_CRA_ALIGN, DSA_COMP_ADDR_ALIGN, DSA_COMP_PRIV_BAD,
  DSA_COMP_TRAFFIC_CLASS_CONF, DSA_COMP_PFAULT_RDBA, DSA_COMP_HW_ERR1, DSA_COMP_HW_ERR_DRB, DSA_COMP_TRANSLATION_FAIL,
};
#define DSA_COMP_STATUS_MASK 0x7f
#define DSA_COMP_STATUS_WRITE 0x80
struct dsa_hw_desc {
  uint32_t pasid : 20;
  uint32_t rsvd : 11;
  uint32_t priv : 1;
  uint32_t flags : 24;
  uint32_t opcode : 8;
  uint64_t completion_addr;
  union {
    uint64_t src_addr;
    uint64_t desc_list_addr;
    uint64_t pattern;
  };
  uint64_t dst_addr;
  union {
    uint32_t xfer_size;
    uint32_t desc_count;
  };
  uint16_t int_handle;
  uint16_t rsvd1;
  uint8_t op_specific[24];
} __attribute__((packed));
struct dsa_completion_record {
  volatile uint8_t status;
  uint8_t result;
  uint16_t rsvd;
  uint32_t bytes_completed;
  uint64_t fault_addr;
  uint8_t op_specific[16];
} __attribute__((packed));
#endif

_Static_assert(sizeof(struct dsa_hw_desc) == 64, "a DSA descriptor is 64 bytes");
_Static_assert(offsetof(struct dsa_hw_desc, completion_addr) == 8, "descriptor: completion_addr at 8");
_Static_assert(offsetof(struct dsa_hw_desc, src_addr) == 16, "descriptor: src_addr at 16");
_Static_assert(offsetof(struct dsa_hw_desc, dst_addr) == 24, "descriptor: dst_addr at 24");
_Static_assert(offsetof(struct dsa_hw_desc, xfer_size) == 32, "descriptor: xfer_size at 32");
_Static_assert(offsetof(struct dsa_hw_desc, int_handle) == 36, "descriptor: int_handle at 36");
_Static_assert(sizeof(struct dsa_completion_record) == 32, "a DSA completion record is 32 bytes");
_Static_assert(offsetof(struct dsa_completion_record, result) == 1, "record: result at 1");
_Static_assert(offsetof(struct dsa_completion_record, bytes_completed) == 4, "record: bytes_completed at 4");
_Static_assert(offsetof(struct dsa_completion_record, fault_addr) == 8, "record: fault_addr at 8");

/* The flags word (bits 32..55 of the first quadword) and the opcode (56..63): set as one value. */
static inline void dsa_desc_set_op(struct dsa_hw_desc *d, uint32_t opcode, uint32_t flags) {
  d->flags = flags & 0xffffffu;
  d->opcode = opcode & 0xffu;
}

/* Flags a DSA 1.0 device accepts on MEMMOVE / BATCH (anything else: INVALID_FLAGS). */
#define DSA_FLAGS_KNOWN                                                                                         \
  (IDXD_OP_FLAG_FENCE | IDXD_OP_FLAG_BOF | IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR | IDXD_OP_FLAG_RCI |          \
   IDXD_OP_FLAG_CRSTS | IDXD_OP_FLAG_CR | IDXD_OP_FLAG_CC | 0x0200 | 0x0400 | 0x0800 | 0x1000 |                \
   IDXD_OP_FLAG_STORD | IDXD_OP_FLAG_DRDBK | IDXD_OP_FLAG_DSTS)

/* gen_cap bits (sysfs dsaN/gen_cap, hex) */
#define DSA_GENCAP_BLOCK_ON_FAULT (1ull << 0)
#define DSA_GENCAP_CACHE_CONTROL_MEM (1ull << 2)

/* Status name ("SUCCESS", "PAGE_FAULT_NOBOF", ...; "UNKNOWN" otherwise) of a status byte (the 0x80 bit ignored). */
const char *ferry__dsa_status_name(uint8_t status);
/* The FerryError code a failed status maps to (FERRY_E_INVAL for descriptor errors, FERRY_E_TOOBIG, FERRY_E_SYS). */
int ferry__dsa_status_code(uint8_t status);

/* ---- CPU features (CPUID leaf 7, subleaf 0, ECX) ---- */
enum { DSA_CPU_MOVDIR64B = 1, DSA_CPU_ENQCMD = 2, DSA_CPU_WAITPKG = 4 };
/* DSA_CPU_* bits of this CPU (0 outside x86-64). */
uint32_t ferry__dsa_cpu_features(void);
/* "movdir64b enqcmd waitpkg" style text of a feature set ("none" when empty). */
void ferry__dsa_cpu_text(uint32_t f, char *buf, size_t cap);

/* ---- instructions (call only when the feature bit is set) ---- */
static inline void dsa_sfence(void) {
#if defined(__x86_64__)
  __asm__ volatile("sfence" ::: "memory");
#else
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

/* MOVDIR64B: a posted 64-byte write of *desc to the portal (dedicated work queues). */
static inline void dsa_movdir64b(volatile void *portal, const void *desc) {
#if defined(__x86_64__)
  /* movdir64b (%rdx), %rax: 66 0f 38 f8 /r, ModRM 0x02 */
  __asm__ volatile(".byte 0x66, 0x0f, 0x38, 0xf8, 0x02" : : "a"(portal), "d"(desc) : "memory");
#else
  (void)portal, (void)desc;
#endif
}

/* ENQCMD: a non-posted 64-byte enqueue (shared work queues): 0 accepted, 1 retry (ZF set: queue full). */
static inline int dsa_enqcmd(volatile void *portal, const void *desc) {
#if defined(__x86_64__)
  uint8_t retry;
  /* enqcmd (%rdx), %rax: f2 0f 38 f8 /r, ModRM 0x02; ZF = 1 means not accepted */
  __asm__ volatile(".byte 0xf2, 0x0f, 0x38, 0xf8, 0x02\n\tsetz %0" : "=r"(retry) : "a"(portal), "d"(desc) : "memory", "cc");
  return retry;
#else
  (void)portal, (void)desc;
  return 1;
#endif
}

/* UMONITOR addr; UMWAIT until the monitored line is written or the TSC passes deadline (C0.2 state). */
static inline void dsa_umwait(const volatile void *addr, uint64_t deadline_tsc) {
#if defined(__x86_64__)
  /* umonitor %rax: f3 0f ae /6, ModRM 0xf0 */
  __asm__ volatile(".byte 0xf3, 0x0f, 0xae, 0xf0" : : "a"(addr) : "memory");
  /* umwait %ecx (edx:eax = deadline): f2 0f ae /6, ModRM 0xf1; ecx bit 0 = 0 asks for C0.2 */
  __asm__ volatile(".byte 0xf2, 0x0f, 0xae, 0xf1" : : "c"(0), "a"((uint32_t)deadline_tsc), "d"((uint32_t)(deadline_tsc >> 32))
                   : "memory", "cc");
#else
  (void)addr, (void)deadline_tsc;
#endif
}

static inline uint64_t dsa_rdtsc(void) {
#if defined(__x86_64__)
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
#else
  return 0;
#endif
}

/* Store a completion record's status last, with release ordering (the device's side). */
static inline void dsa_comp_publish(struct dsa_completion_record *c, uint8_t status) {
  __atomic_store_n((uint8_t *)&c->status, status, __ATOMIC_RELEASE);
}
static inline uint8_t dsa_comp_status(const struct dsa_completion_record *c) {
  return __atomic_load_n((const uint8_t *)&c->status, __ATOMIC_ACQUIRE);
}

#endif
