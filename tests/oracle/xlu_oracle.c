/*
 * xlu_oracle: ask Xen's own libxlutil (Debian libxenmisc4.17) how it reads PCI
 * spec strings and xl.cfg files, and print the answers as JSON lines.
 *
 *   xlu_oracle pci < inputs   one hex-encoded spec string per line
 *   xlu_oracle cfg < inputs   one hex-encoded xl.cfg file per line
 *
 * Every call runs in a forked child (a crash becomes {"crash": N}).  In pci
 * mode each call is repeated with the stack pre-filled with several patterns;
 * "stack_dependent" says the answers differed.  "n_unassigned" says sscanf
 * left a %n target unwritten although every conversion before it succeeded:
 * libxlutil's parse_bdf then adds an uninitialised int to its pointer.  We
 * see it by interposing __isoc99_sscanf (libxlutil calls it through its PLT):
 * the interposer first runs the same format on private targets, then forwards
 * the real call unchanged, so the library behaves exactly as on its own.
 * The binary re-execs itself with LD_BIND_NOW=1 so lazy binding does not
 * scribble over the pre-filled stack.
 *
 * cfg mode follows parse_config_data() in tools/xl/xl_parse.c (4.17): the
 * pci_* globals via xlu_cfg_get_long into ints, rdm via xlu_rdm_parse (with
 * the rdm struct initialised, where xl leaves it uninitialised), then xl's
 * loop over the pci list: init, copy the globals, parse the spec on top.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libxl.h>
#include <libxlutil.h>

extern int __isoc99_vsscanf(const char *s, const char *fmt, va_list ap);

static int n_unassigned;

/* glibc's own scanner (calling sscanf here would recurse into the interposer). */
static int real_sscanf(const char *s, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = __isoc99_vsscanf(s, fmt, ap);
    va_end(ap);
    return r;
}

/* Run fmt (only %x, %n and literals) on private targets: did a %n stay unwritten
 * although the conversions before it all succeeded? */
static int probe_unassigned_n(const char *s, const char *fmt)
{
    unsigned int x[4] = {0};
    int n[4] = {INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN};
    void *args[4];
    int kinds[4], nargs = 0, convs_before_n[4], convs = 0, r;

    for (const char *p = fmt; *p && nargs < 4; p++) {
        if (*p != '%') continue;
        p++;
        if (*p == 'x') { args[nargs] = &x[nargs]; kinds[nargs++] = 'x'; convs++; }
        else if (*p == 'n') {
            args[nargs] = &n[nargs]; convs_before_n[nargs] = convs; kinds[nargs++] = 'n';
        }
    }
    switch (nargs) {
    case 1: r = real_sscanf(s, fmt, args[0]); break;
    case 2: r = real_sscanf(s, fmt, args[0], args[1]); break;
    case 3: r = real_sscanf(s, fmt, args[0], args[1], args[2]); break;
    case 4: r = real_sscanf(s, fmt, args[0], args[1], args[2], args[3]); break;
    default: return 0;
    }
    for (int i = 0; i < nargs; i++)
        if (kinds[i] == 'n' && n[i] == INT32_MIN && r == convs_before_n[i])
            return 1;
    return 0;
}

int __isoc99_sscanf(const char *s, const char *fmt, ...)
{
    va_list ap;
    int r;

    if (probe_unassigned_n(s, fmt))
        n_unassigned = 1;
    va_start(ap, fmt);
    r = __isoc99_vsscanf(s, fmt, ap);
    va_end(ap);
    return r;
}

/* ---- JSON output ---- */

static void put_hex(const char *key, const char *s, size_t len)
{
    printf("\"%s\":\"", key);
    for (size_t i = 0; i < len; i++) printf("%02x", (unsigned char)s[i]);
    printf("\"");
}

static void put_text(const char *key, const char *s)
{
    if (!s) { printf("\"%s\":null", key); return; }
    put_hex(key, s, strlen(s));
}

static char *hex_decode(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    char *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned int b;
        char pair[3] = {hex[2 * i], hex[2 * i + 1], 0};
        b = (unsigned int)strtoul(pair, NULL, 16);
        out[i] = (char)b;
    }
    out[n] = 0;
    *len = n;
    return out;
}

/* ---- pci mode ---- */

struct pci_answer {
    int rc, n_unassigned;
    libxl_device_pci pci;
    char report[512];
};

static void __attribute__((noinline)) fill_stack(int pattern)
{
    volatile unsigned char area[16384];
    memset((void *)area, pattern, sizeof(area));
    __asm__ volatile("" : : "r"(area) : "memory");
}

static void __attribute__((noinline)) call_parser(int which, const char *input,
                                                   struct pci_answer *a, int pattern)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *report = open_memstream(&buf, &size);
    XLU_Config *cfg = xlu_cfg_init(report, "spec");

    libxl_device_pci_init(&a->pci);
    n_unassigned = 0;
    /* fill the stack just below this frame, where the parser's frame will be */
    if (pattern >= 0) fill_stack(pattern);
    a->rc = which ? xlu_pci_parse_bdf(cfg, &a->pci, input)
                  : xlu_pci_parse_spec_string(cfg, &a->pci, input);
    a->n_unassigned = n_unassigned;
    fclose(report);
    snprintf(a->report, sizeof(a->report), "%s", buf ? buf : "");
    free(buf);
    xlu_cfg_destroy(cfg);
}

static void print_pci(const struct pci_answer *a)
{
    const libxl_device_pci *p = &a->pci;
    printf("{\"rc\":%d,\"n_unassigned\":%s", a->rc, a->n_unassigned ? "true" : "false");
    if (a->rc == 0) {
        printf(",\"domain\":%u,\"bus\":%u,\"dev\":%u,\"func\":%u,\"vdevfn\":%u,"
               "\"vfunc_mask\":%u,\"msitranslate\":%d,\"power_mgmt\":%d,"
               "\"permissive\":%d,\"seize\":%d,\"rdm_policy\":%d,",
               p->domain, p->bus, p->dev, p->func, p->vdevfn, p->vfunc_mask,
               p->msitranslate ? 1 : 0, p->power_mgmt ? 1 : 0, p->permissive ? 1 : 0,
               p->seize ? 1 : 0, (int)p->rdm_policy);
        put_text("name", p->name);
    }
    printf(",");
    put_text("report", a->report);
    printf("}");
}

/* Run one call in a child with the stack pre-filled; the child writes its answer
 * as a line on a pipe (a crash gives a {"crash":N} object). */
static char *run_variant(int which, const char *input, int pattern)
{
    int fds[2];
    static char line[4096];
    pid_t pid;
    ssize_t got, total = 0;
    int status;

    if (pipe(fds)) { perror("pipe"); exit(2); }
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        struct pci_answer a;
        close(fds[0]);
        dup2(fds[1], 1);
        call_parser(which, input, &a, pattern);
        print_pci(&a);
        fflush(stdout);
        _exit(0);
    }
    close(fds[1]);
    while ((got = read(fds[0], line + total, sizeof(line) - 1 - total)) > 0) total += got;
    line[total] = 0;
    close(fds[0]);
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status))
        snprintf(line, sizeof(line), "{\"crash\":%d}", WTERMSIG(status));
    return strdup(line);
}

static void pci_call(int which, const char *input)
{
    static const int patterns[] = {-1, 0x00, 0x01, 0x05, 0x65};
    char *first = NULL;
    int differ = 0;

    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        char *ans = run_variant(which, input, patterns[i]);
        if (!first) first = ans;
        else { if (strcmp(first, ans)) differ = 1; free(ans); }
    }
    printf("{\"stack_dependent\":%s,\"answer\":%s}", differ ? "true" : "false", first);
    free(first);
}

static void pci_mode(const char *input, size_t len)
{
    printf("{");
    put_hex("input", input, len);
    printf(",\"spec\":");
    pci_call(0, input);
    printf(",\"bdf\":");
    pci_call(1, input);
    printf("}\n");
}

/* ---- cfg mode ---- */

static const char *const long_keys[] = {"pci_msitranslate", "pci_power_mgmt", "pci_permissive",
                                        "pci_seize"};
static const char *const string_keys[] = {"name", "kernel", "extra", "memory", "rdm", "type"};

static void cfg_child(const char *data, size_t len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *report = open_memstream(&buf, &size);
    XLU_Config *cfg = xlu_cfg_init(report, "cfg");
    int rc = xlu_cfg_readdata(cfg, data, (int)len);
    int globals[4] = {0, 0, 0, 0};
    libxl_rdm_reserve_policy policy = LIBXL_RDM_RESERVE_POLICY_INVALID;
    XLU_ConfigList *pcis;
    int entries, list_rc;

    fflush(report);
    printf("{\"parse_rc\":%d,", rc);
    put_text("parse_report", buf);
    if (rc) { printf("}\n"); return; }
    printf(",\"long\":{");
    for (int i = 0; i < 4; i++) {
        long l = 0;
        int e = xlu_cfg_get_long(cfg, long_keys[i], &l, 0);
        if (!e) globals[i] = (int)l;
        printf("%s\"%s\":{\"rc\":%d,\"value\":%ld,\"xl_int\":%d}", i ? "," : "", long_keys[i], e,
               e ? 0L : l, globals[i]);
    }
    printf("},\"string\":{");
    for (size_t i = 0; i < sizeof(string_keys) / sizeof(string_keys[0]); i++) {
        const char *v = NULL;
        int e = xlu_cfg_get_string(cfg, string_keys[i], &v, 1);
        printf("%s\"%s\":{\"rc\":%d,", i ? "," : "", string_keys[i], e);
        put_text("value", e ? NULL : v);
        printf("}");
    }
    printf("}");
    {
        const char *rdm_text;
        if (!xlu_cfg_get_string(cfg, "rdm", &rdm_text, 0)) {
            libxl_rdm_reserve rdm;
            libxl_rdm_reserve_init(&rdm);
            int e = xlu_rdm_parse(cfg, &rdm, rdm_text);
            if (!e) policy = rdm.policy;
            printf(",\"rdm_parse_rc\":%d", e);
        }
    }
    list_rc = xlu_cfg_get_list(cfg, "pci", &pcis, &entries, 0);
    printf(",\"pci_list_rc\":%d", list_rc);
    if (!list_rc) {
        const char *item;
        printf(",\"entries\":%d,\"items\":[", entries);
        for (int i = 0; i < entries; i++) {
            if (i) printf(",");
            item = xlu_cfg_get_listitem(pcis, i);
            if (item) { printf("{"); put_text("text", item); printf("}"); }
            else printf("null");
        }
        printf("],\"xl_pci\":[");
        for (int i = 0; (item = xlu_cfg_get_listitem(pcis, i)) != NULL; i++) {
            struct pci_answer a;
            char *rbuf = NULL;
            size_t rsize = 0;
            libxl_device_pci_init(&a.pci);
            a.pci.msitranslate = globals[0];
            a.pci.power_mgmt = globals[1];
            a.pci.permissive = globals[2];
            a.pci.seize = globals[3];
            a.pci.rdm_policy = policy;
            {
                FILE *r2 = open_memstream(&rbuf, &rsize);
                XLU_Config *c2 = xlu_cfg_init(r2, "spec");
                n_unassigned = 0;
                a.rc = xlu_pci_parse_spec_string(c2, &a.pci, item);
                a.n_unassigned = n_unassigned;
                fclose(r2);
                xlu_cfg_destroy(c2);
            }
            snprintf(a.report, sizeof(a.report), "%s", rbuf ? rbuf : "");
            free(rbuf);
            if (i) printf(",");
            print_pci(&a);
            libxl_device_pci_dispose(&a.pci);
            if (a.rc) break; /* xl exits on the first bad item */
        }
        printf("]");
    }
    fflush(report);
    printf(",");
    put_text("report", buf);
    printf("}\n");
}

static void cfg_mode(const char *data, size_t len)
{
    int fds[2], status;
    pid_t pid;
    char chunk[4096];
    ssize_t got;

    if (pipe(fds)) { perror("pipe"); exit(2); }
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        cfg_child(data, len);
        fflush(stdout);
        _exit(0);
    }
    close(fds[1]);
    {
        size_t cap = 65536, total = 0;
        char *all = malloc(cap);
        while ((got = read(fds[0], chunk, sizeof(chunk))) > 0) {
            if (total + (size_t)got + 1 > cap) { cap *= 2; all = realloc(all, cap); }
            memcpy(all + total, chunk, (size_t)got);
            total += (size_t)got;
        }
        all[total] = 0;
        close(fds[0]);
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status)) printf("{\"crash\":%d}\n", WTERMSIG(status));
        else fputs(all, stdout);
        free(all);
    }
}

int main(int argc, char **argv)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;

    if (argc != 2 || (strcmp(argv[1], "pci") && strcmp(argv[1], "cfg"))) {
        fprintf(stderr, "usage: %s pci|cfg < hex-encoded-inputs\n", argv[0]);
        return 2;
    }
    if (!getenv("LD_BIND_NOW")) {
        setenv("LD_BIND_NOW", "1", 1);
        execv("/proc/self/exe", argv);
        perror("execv");
        return 2;
    }
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        size_t len;
        char *input;
        if (got && line[got - 1] == '\n') line[--got] = 0;
        input = hex_decode(line, &len);
        if (!strcmp(argv[1], "pci")) pci_mode(input, len);
        else cfg_mode(input, len);
        fflush(stdout);
        free(input);
    }
    free(line);
    return 0;
}
