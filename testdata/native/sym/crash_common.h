/* Shared by the crash fixtures: on SIGSEGV print a Sentry event (JSON, one
 * line on stdout) with the faulting thread's frames (oldest first, from
 * backtrace()) and every loaded image (dl_iterate_phdr) with its GNU
 * build-id as code_id and the derived debug_id, then die by the signal. */
#ifndef CRASH_COMMON_H
#define CRASH_COMMON_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <elf.h>
#include <execinfo.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char crash_exe[4096];

static void crash_print_build_id(const unsigned char *id, size_t n) {
  printf("\"code_id\":\"");
  for (size_t i = 0; i < n; i++) printf("%02x", id[i]);
  printf("\"");
  if (n >= 16) {
    /* debug_id: the first 16 bytes as a little-endian GUID. */
    static const int order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    printf(",\"debug_id\":\"");
    for (int i = 0; i < 16; i++) {
      if (i == 4 || i == 6 || i == 8 || i == 10) printf("-");
      printf("%02x", id[order[i]]);
    }
    printf("\"");
  }
}

static int crash_image(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  int *first = (int *)data;
  const char *name = info->dlpi_name;
  if (!name || !*name) name = crash_exe;
  if (strstr(name, "linux-vdso")) return 0;
  ElfW(Addr) lo = (ElfW(Addr))-1, hi = 0;
  const unsigned char *build_id = NULL;
  size_t build_id_len = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD) {
      if (ph->p_vaddr < lo) lo = ph->p_vaddr;
      if (ph->p_vaddr + ph->p_memsz > hi) hi = ph->p_vaddr + ph->p_memsz;
    } else if (ph->p_type == PT_NOTE) {
      const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
      const unsigned char *end = p + ph->p_memsz;
      while (p + sizeof(ElfW(Nhdr)) <= end) {
        const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
        const unsigned char *desc = p + sizeof(*nh) + ((nh->n_namesz + 3) & ~3u);
        if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(p + sizeof(*nh), "GNU", 4) == 0) {
          build_id = desc;
          build_id_len = nh->n_descsz;
        }
        p = desc + ((nh->n_descsz + 3) & ~3u);
      }
    }
  }
  if (hi == 0) return 0;
  lo &= ~(ElfW(Addr))0xfff;
  printf("%s{\"type\":\"elf\",\"code_file\":\"%s\",\"image_addr\":\"0x%lx\",\"image_size\":%lu",
         *first ? "" : ",", name, (unsigned long)(info->dlpi_addr + lo), (unsigned long)(hi - lo));
  if (build_id) {
    printf(",");
    crash_print_build_id(build_id, build_id_len);
  }
  printf("}");
  *first = 0;
  return 0;
}

static void crash_handler(int sig) {
  void *pcs[128];
  int n = backtrace(pcs, 128);
  /* pcs[0] is this handler, pcs[1] the signal trampoline in libc; the
   * faulting instruction comes next. Sentry wants oldest first. */
  printf("{\"platform\":\"native\",\"level\":\"fatal\",\"exception\":{\"values\":[{\"type\":\"SIGSEGV\","
         "\"value\":\"Segmentation fault\",\"mechanism\":{\"type\":\"signalhandler\",\"handled\":false},"
         "\"stacktrace\":{\"frames\":[");
  int first = 1;
  for (int i = n - 1; i >= 2; i--) {
    printf("%s{\"instruction_addr\":\"0x%lx\"}", first ? "" : ",", (unsigned long)pcs[i]);
    first = 0;
  }
  printf("]}}]},\"debug_meta\":{\"images\":[");
  first = 1;
  dl_iterate_phdr(crash_image, &first);
  printf("]}}\n");
  fflush(stdout);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void crash_install(void) {
  ssize_t n = readlink("/proc/self/exe", crash_exe, sizeof crash_exe - 1);
  crash_exe[n > 0 ? n : 0] = 0;
  signal(SIGSEGV, crash_handler);
}
#endif
