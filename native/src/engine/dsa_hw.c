/*
 * engine/dsa_hw.c — DSA completion status names and their FerryError codes,
 * and the CPU features the DSA engine needs (CPUID leaf 7 subleaf 0, ECX:
 * WAITPKG bit 5, MOVDIR64B bit 28, ENQCMD bit 29).
 */
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "engine/dsa_hw.h"
#include "ferry.h"

const char *ferry__dsa_status_name(uint8_t status) {
  switch (status & DSA_COMP_STATUS_MASK) {
  case DSA_COMP_NONE: return "NONE";
  case DSA_COMP_SUCCESS: return "SUCCESS";
  case DSA_COMP_SUCCESS_PRED: return "SUCCESS_PRED";
  case DSA_COMP_PAGE_FAULT_NOBOF: return "PAGE_FAULT_NOBOF";
  case DSA_COMP_PAGE_FAULT_IR: return "PAGE_FAULT_IR";
  case DSA_COMP_BATCH_FAIL: return "BATCH_FAIL";
  case DSA_COMP_BATCH_PAGE_FAULT: return "BATCH_PAGE_FAULT";
  case DSA_COMP_DR_OFFSET_NOINC: return "DR_OFFSET_NOINC";
  case DSA_COMP_DR_OFFSET_ERANGE: return "DR_OFFSET_ERANGE";
  case DSA_COMP_DIF_ERR: return "DIF_ERR";
  case DSA_COMP_BAD_OPCODE: return "BAD_OPCODE";
  case DSA_COMP_INVALID_FLAGS: return "INVALID_FLAGS";
  case DSA_COMP_NOZERO_RESERVE: return "NOZERO_RESERVE";
  case DSA_COMP_XFER_ERANGE: return "XFER_ERANGE";
  case DSA_COMP_DESC_CNT_ERANGE: return "DESC_CNT_ERANGE";
  case DSA_COMP_DR_ERANGE: return "DR_ERANGE";
  case DSA_COMP_OVERLAP_BUFFERS: return "OVERLAP_BUFFERS";
  case DSA_COMP_DCAST_ERR: return "DCAST_ERR";
  case DSA_COMP_DESCLIST_ALIGN: return "DESCLIST_ALIGN";
  case DSA_COMP_INT_HANDLE_INVAL: return "INT_HANDLE_INVAL";
  case DSA_COMP_CRA_XLAT: return "CRA_XLAT";
  case DSA_COMP_CRA_ALIGN: return "CRA_ALIGN";
  case DSA_COMP_ADDR_ALIGN: return "ADDR_ALIGN";
  case DSA_COMP_PRIV_BAD: return "PRIV_BAD";
  case DSA_COMP_TRAFFIC_CLASS_CONF: return "TRAFFIC_CLASS_CONF";
  case DSA_COMP_PFAULT_RDBA: return "PFAULT_RDBA";
  case DSA_COMP_HW_ERR1: return "HW_ERR1";
  case DSA_COMP_HW_ERR_DRB: return "HW_ERR_DRB";
  case DSA_COMP_TRANSLATION_FAIL: return "TRANSLATION_FAIL";
  default: return "UNKNOWN";
  }
}

int ferry__dsa_status_code(uint8_t status) {
  switch (status & DSA_COMP_STATUS_MASK) {
  case DSA_COMP_SUCCESS:
  case DSA_COMP_SUCCESS_PRED: return 0;
  case DSA_COMP_XFER_ERANGE: return FERRY_E_TOOBIG;
  case DSA_COMP_BAD_OPCODE:
  case DSA_COMP_INVALID_FLAGS:
  case DSA_COMP_NOZERO_RESERVE:
  case DSA_COMP_DESC_CNT_ERANGE:
  case DSA_COMP_DR_ERANGE:
  case DSA_COMP_OVERLAP_BUFFERS:
  case DSA_COMP_DCAST_ERR:
  case DSA_COMP_DESCLIST_ALIGN:
  case DSA_COMP_INT_HANDLE_INVAL:
  case DSA_COMP_CRA_ALIGN:
  case DSA_COMP_ADDR_ALIGN:
  case DSA_COMP_PRIV_BAD:
  case DSA_COMP_TRAFFIC_CLASS_CONF: return FERRY_E_INVAL;
  case DSA_COMP_PAGE_FAULT_NOBOF:
  case DSA_COMP_PAGE_FAULT_IR:
  case DSA_COMP_BATCH_PAGE_FAULT:
  case DSA_COMP_CRA_XLAT:
  case DSA_COMP_PFAULT_RDBA:
  case DSA_COMP_TRANSLATION_FAIL: return FERRY_E_PERM; /* the device could not reach the memory */
  default: return FERRY_E_SYS;                         /* hardware errors, batch failures, unknown */
  }
}

uint32_t ferry__dsa_cpu_features(void) {
  uint32_t f = 0;
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    if (c & (1u << 5)) f |= DSA_CPU_WAITPKG;
    if (c & (1u << 28)) f |= DSA_CPU_MOVDIR64B;
    if (c & (1u << 29)) f |= DSA_CPU_ENQCMD;
  }
#endif
  return f;
}

void ferry__dsa_cpu_text(uint32_t f, char *buf, size_t cap) {
  snprintf(buf, cap, "%s%s%s%s", f & DSA_CPU_MOVDIR64B ? "movdir64b " : "", f & DSA_CPU_ENQCMD ? "enqcmd " : "",
           f & DSA_CPU_WAITPKG ? "waitpkg " : "", f ? "" : "none");
  size_t n = strlen(buf);
  if (n && buf[n - 1] == ' ') buf[n - 1] = 0;
}
