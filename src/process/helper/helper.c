/*
 * containment's exec helper: a tiny static program that the crate writes
 * once per process into a sealed memfd and that the spawned child execs
 * (execveat(memfd, "", AT_EMPTY_PATH)) instead of exec'ing the program
 * itself. It then execs the program, so that at the program's exec
 * /proc/self/exe names this sealed memfd, never the caller's binary (the
 * CVE-2019-5736 kind: a `#!/proc/self/exe` script, or an ELF whose
 * PT_INTERP is /proc/self/exe, runs whatever /proc/self/exe names at exec
 * time). In `init` mode it stays as PID 1: forks the program, forwards
 * signals to it, reaps every child and exits with the program's status.
 *
 * Freestanding: no libc, raw system calls, no allocation. Its argv and
 * environment are hostile input (a container can run it through
 * `#!/proc/self/exe`): anything but the exact protocol below exits 126
 * before doing anything else. The protocol (built by
 * src/process/helper.rs):
 *
 *   argv[0]  MAGIC
 *   argv[1]  "exec" | "init" | "init-tty" (as init; the program gets a
 *            process group of its own, the foreground group of the
 *            controlling terminal on its fd 0, 1 or 2)
 *   argv[2]  error pipe fd (decimal)
 *   argv[3]  step codes "EXEC,FORK,SECCOMP,LANDLOCK" (decimal), the
 *            crate's `Step` numbers for the 12-byte failure record
 *   argv[4]  Landlock ruleset fd, or -1
 *   argv[5]  seccomp BPF program, hex of the raw sock_filter array, or ""
 *   argv[6]  N, the number of candidate paths (PATH search), 1..=65536
 *   argv[7 .. 7+N]   candidate paths, tried in order
 *   argv[7+N ..]     the program's argv (at least one entry)
 *   envp     the program's environment, passed on unchanged
 *
 * A failure before the program's exec writes {u32 step, u32 index,
 * i32 errno} (native endian) on the error pipe and exits 127.
 */

#define MAGIC "containment-helper/1"
#define EXIT_PROTOCOL 126
#define EXIT_FAILED 127

typedef unsigned long ulong;
typedef unsigned int u32;

#if defined(__x86_64__)
#define NR_write 1
#define NR_ioctl 16
#define NR_getpid 39
#define NR_setpgid 109
#define NR_close 3
#define NR_rt_sigaction 13
#define NR_rt_sigprocmask 14
#define NR_clone 56
#define NR_execve 59
#define NR_exit_group 231
#define NR_wait4 61
#define NR_kill 62
#define NR_fcntl 72
#define NR_rt_sigtimedwait 128
#define NR_prctl 157
#define NR_seccomp 317
#define NR_close_range 436
#define NR_landlock_restrict_self 446
#define SA_RESTORER 0x04000000UL

static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* Entry: the stack pointer is argc, then argv, NULL, envp, NULL, auxv. */
__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"  xor %rbp, %rbp\n"
	"  mov %rsp, %rdi\n"
	"  and $-16, %rsp\n"
	"  call helper_main\n"
	"  hlt\n"
	/* x86_64 needs a restorer for handlers (ours never run: the signals
	 * stay blocked and are taken by rt_sigtimedwait). */
	".global helper_restore_rt\n"
	"helper_restore_rt:\n"
	"  mov $15, %rax\n"
	"  syscall\n"
	"  hlt\n");
#elif defined(__aarch64__)
#define NR_write 64
#define NR_ioctl 29
#define NR_getpid 172
#define NR_setpgid 154
#define NR_close 57
#define NR_rt_sigaction 134
#define NR_rt_sigprocmask 135
#define NR_clone 220
#define NR_execve 221
#define NR_exit_group 94
#define NR_wait4 260
#define NR_kill 129
#define NR_fcntl 25
#define NR_rt_sigtimedwait 137
#define NR_prctl 167
#define NR_seccomp 277
#define NR_close_range 436
#define NR_landlock_restrict_self 446
#define SA_RESTORER 0UL

static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	return x0;
}

__asm__(".text\n"
	".global _start\n"
	"_start:\n"
	"  mov x29, #0\n"
	"  mov x30, #0\n"
	"  mov x0, sp\n"
	"  and sp, x0, #-16\n"
	"  bl helper_main\n"
	"  brk #0\n"
	".global helper_restore_rt\n"
	"helper_restore_rt:\n"
	"  mov x8, #139\n"
	"  svc 0\n");
#else
#error "containment's exec helper supports x86_64 and aarch64 only"
#endif

#define sys1(n, a) sys6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(n, a, b, c, d, e) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

#define EINTR 4
#define ENOENT 2
#define ENOTDIR 20
#define EACCES 13
#define F_SETFD 2
#define FD_CLOEXEC 1
#define PR_SET_DUMPABLE 4
#define PR_SET_CHILD_SUBREAPER 36
#define SIG_SETMASK 2
#define SIGCHLD 17
#define WNOHANG 1
#define SECCOMP_SET_MODE_FILTER 1
#define TIOCSPGRP 0x5410
#define MAX_INSNS 4096
/* Kept equal to MAX_CANDIDATES in helper.rs, which refuses more. */
#define MAX_CANDIDATES 65536

/* gcc may emit calls to these for struct copies and zeroing. */
void *memset(void *d, int c, ulong n)
{
	unsigned char *p = d;
	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, ulong n)
{
	unsigned char *p = d;
	const unsigned char *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

extern void helper_restore_rt(void);

struct ksigaction {
	void (*handler)(int);
	ulong flags;
	void (*restorer)(void);
	ulong mask;
};

struct sock_filter {
	unsigned short code;
	unsigned char jt;
	unsigned char jf;
	u32 k;
};

struct sock_fprog {
	unsigned short len;
	struct sock_filter *filter;
};

struct proto {
	long err_fd;
	u32 step_exec, step_fork, step_seccomp, step_landlock;
	long landlock_fd;
	unsigned short filter_len;
	struct sock_filter *filter;
	long ncand;
	char **cand;
	char **argv;
	char **envp;
};

static __attribute__((noreturn)) void exit_now(int code)
{
	for (;;)
		sys1(NR_exit_group, code);
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

/* A decimal number in [lo, hi], the whole string; -1 allowed when lo < 0. */
static int parse_num(const char *s, long lo, long hi, long *out)
{
	long v = 0;
	int neg = 0, digits = 0;
	if (*s == '-') {
		neg = 1;
		s++;
	}
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || digits >= 10)
			return 0;
		v = v * 10 + (*s - '0');
		digits++;
	}
	if (!digits)
		return 0;
	if (neg)
		v = -v;
	if (v < lo || v > hi)
		return 0;
	*out = v;
	return 1;
}

/* "a,b,c,d": four step codes. */
static int parse_steps(const char *s, struct proto *p)
{
	u32 v[4];
	int i = 0;
	for (i = 0; i < 4; i++) {
		long x = 0;
		int digits = 0;
		while (*s >= '0' && *s <= '9' && digits < 6) {
			x = x * 10 + (*s - '0');
			s++;
			digits++;
		}
		if (!digits)
			return 0;
		v[i] = (u32)x;
		if (i < 3) {
			if (*s != ',')
				return 0;
			s++;
		}
	}
	if (*s)
		return 0;
	p->step_exec = v[0];
	p->step_fork = v[1];
	p->step_seccomp = v[2];
	p->step_landlock = v[3];
	return 1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int parse_filter(const char *s, struct proto *p)
{
	unsigned char *out = (unsigned char *)p->filter;
	ulong n = 0;
	while (s[0]) {
		int hi = hexval(s[0]), lo;
		if (hi < 0 || !s[1])
			return 0;
		lo = hexval(s[1]);
		if (lo < 0 || n >= MAX_INSNS * sizeof(struct sock_filter))
			return 0;
		out[n++] = (unsigned char)(hi << 4 | lo);
		s += 2;
	}
	if (n % sizeof(struct sock_filter))
		return 0;
	p->filter_len = (unsigned short)(n / sizeof(struct sock_filter));
	return 1;
}

static int parse(long argc, char **argv, char **envp, struct proto *p)
{
	long tail;
	if (argc < 9 || !streq(argv[0], MAGIC))
		return 0;
	if (!parse_num(argv[2], 0, 0x7fffffff, &p->err_fd) || !parse_steps(argv[3], p) ||
	    !parse_num(argv[4], -1, 0x7fffffff, &p->landlock_fd) || !parse_filter(argv[5], p) ||
	    !parse_num(argv[6], 1, MAX_CANDIDATES, &p->ncand))
		return 0;
	tail = 7 + p->ncand;
	if (tail >= argc)
		return 0;
	p->cand = argv + 7;
	p->argv = argv + tail;
	p->envp = envp;
	return 1;
}

static __attribute__((noreturn)) void fail(const struct proto *p, u32 step, u32 index, long err)
{
	u32 rec[3];
	const char *b = (const char *)rec;
	long left = sizeof(rec);
	rec[0] = step;
	rec[1] = index;
	rec[2] = (u32)(int)err;
	while (left > 0) {
		long n = sys3(NR_write, p->err_fd, b, left);
		if (n == -EINTR)
			continue;
		if (n <= 0)
			break;
		b += n;
		left -= n;
	}
	exit_now(EXIT_FAILED);
}

/* Landlock, seccomp (the filter sees only the program), then exec, trying
 * each candidate of the PATH search as the child would. */
static __attribute__((noreturn)) void run_program(const struct proto *p)
{
	long r, i, err = ENOENT, index = 0;
	/* The error pipe closes at the program's exec: EOF means exec'd. */
	sys3(NR_fcntl, p->err_fd, F_SETFD, FD_CLOEXEC);
	if (p->landlock_fd >= 0) {
		r = sys2(NR_landlock_restrict_self, p->landlock_fd, 0);
		if (r < 0)
			fail(p, p->step_landlock, 0, -r);
		sys1(NR_close, p->landlock_fd);
	}
	if (p->filter_len) {
		struct sock_fprog prog = { p->filter_len, p->filter };
		r = sys3(NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
		if (r < 0)
			fail(p, p->step_seccomp, 0, -r);
	}
	for (i = 0; i < p->ncand; i++) {
		r = sys3(NR_execve, p->cand[i], p->argv, p->envp);
		if (r == -ENOENT || r == -ENOTDIR)
			continue;
		if (r == -EACCES) {
			err = EACCES;
			index = i;
			continue;
		}
		fail(p, p->step_exec, (u32)i, -r);
	}
	fail(p, p->step_exec, (u32)index, err);
}

static void noop(int sig)
{
	(void)sig;
}

/* Signals forwarded to the program (as tini and docker-init do). */
static const int forward[] = { 1, 2, 3, 10, 12, 13, 14, 15, 28, 18, 20, 21, 22 };
#define NFWD (sizeof(forward) / sizeof(forward[0]))

static __attribute__((noreturn)) void run_init(const struct proto *p, int tty)
{
	struct ksigaction act, old[NFWD + 1];
	ulong all = ~0UL, entry_mask = 0;
	long main_pid, i;

	sys4(NR_rt_sigprocmask, SIG_SETMASK, &all, &entry_mask, 8);
	/* A PID 1 only receives the signals it has a handler for: a no-op
	 * one; the signals stay blocked and rt_sigtimedwait takes them. */
	memset(&act, 0, sizeof(act));
	act.handler = noop;
	act.flags = SA_RESTORER;
	act.restorer = SA_RESTORER ? helper_restore_rt : 0;
	for (i = 0; i < (long)NFWD; i++)
		sys4(NR_rt_sigaction, forward[i], &act, &old[i], 8);
	sys4(NR_rt_sigaction, SIGCHLD, &act, &old[NFWD], 8);
	/* Adopt orphans even without a PID namespace. */
	sys2(NR_prctl, PR_SET_CHILD_SUBREAPER, 1);

	main_pid = sys5(NR_clone, SIGCHLD, 0, 0, 0, 0);
	if (main_pid < 0)
		fail(p, p->step_fork, 0, -main_pid);
	if (main_pid == 0) {
		/* The program: the dispositions and mask it had at our entry. */
		for (i = 0; i < (long)NFWD; i++)
			sys4(NR_rt_sigaction, forward[i], &old[i], 0, 8);
		sys4(NR_rt_sigaction, SIGCHLD, &old[NFWD], 0, 8);
		sys2(NR_prctl, PR_SET_CHILD_SUBREAPER, 0);
		if (tty) {
			/* A process group of its own, the terminal's foreground
			 * one (tini's isolate_child): Ctrl-C and SIGWINCH go to
			 * the program, and a shell's job control works. Every
			 * signal is still blocked here, so TIOCSPGRP from a
			 * background group raises no SIGTTOU. Best effort: a
			 * stream that is not the terminal answers ENOTTY. */
			int pgid = (int)sys1(NR_getpid, 0);
			sys2(NR_setpgid, 0, 0);
			for (i = 0; i < 3; i++)
				if (sys3(NR_ioctl, i, TIOCSPGRP, &pgid) == 0)
					break;
		}
		sys4(NR_rt_sigprocmask, SIG_SETMASK, &entry_mask, 0, 8);
		run_program(p);
	}
	/* PID 1 keeps no descriptor: not the error pipe (the parent sees EOF
	 * once the program has exec'd), not the Landlock ruleset, not the
	 * passed descriptors, not the standard streams. */
	if (sys3(NR_close_range, 0, ~0U, 0) < 0) {
		for (i = 0; i < 4096; i++)
			sys1(NR_close, i);
	}
	for (;;) {
		unsigned char info[128];
		long sig = sys4(NR_rt_sigtimedwait, &all, info, 0, 8);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			sys2(NR_kill, main_pid, sig);
			continue;
		}
		for (;;) {
			int st = 0;
			long pid = sys4(NR_wait4, -1, &st, WNOHANG, 0);
			if (pid <= 0)
				break;
			if (pid == main_pid) {
				int term = st & 0x7f;
				if (term == 0)
					exit_now((st >> 8) & 0xff);
				if (term != 0x7f)
					exit_now(128 + term);
			}
		}
	}
}

__attribute__((used)) void helper_main(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	struct proto p;
	/* On the stack (touched only when there is a filter): no .bss, so the
	 * program is two mappings, text and nothing else. */
	struct sock_filter filter[MAX_INSNS];

	/* Nothing of ours for a process of the container to read or ptrace. */
	sys2(NR_prctl, PR_SET_DUMPABLE, 0);
	memset(&p, 0, sizeof(p));
	p.filter = filter;
	if (!parse(argc, argv, envp, &p))
		exit_now(EXIT_PROTOCOL);
	if (streq(argv[1], "exec"))
		run_program(&p);
	if (streq(argv[1], "init"))
		run_init(&p, 0);
	if (streq(argv[1], "init-tty"))
		run_init(&p, 1);
	exit_now(EXIT_PROTOCOL);
}
