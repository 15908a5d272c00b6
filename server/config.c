/* config.c - the option table and command-line parsing. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "chunkcache.h"
#include "config.h"
#include "proto.h"
#include "util.h"
#include "xalloc.h"

enum opt_type {
	OPT_STR,        /* char * */
	OPT_PATH,       /* char *, made absolute */
	OPT_BOOL,       /* bool, a flag without argument */
	OPT_UINT,       /* unsigned int within [min, max] */
	OPT_ACTION,     /* --help, --version */
};

struct opt {
	const char *name;
	enum opt_type type;
	size_t off;
	const char *def;               /* default, as text; NULL = none */
	unsigned long long min, max;
	const char *arg;               /* argument name for --help */
	const char *help;
};

#define F(field) offsetof(struct config, field)

static const struct opt opts[] = {
	{ "export", OPT_PATH, F(export_dir), NULL, 0, 0, "DIR",
	  "directory to export (this or --exports)" },
	{ "exports", OPT_PATH, F(exports_file), NULL, 0, 0, "FILE",
	  "serve the exports listed in FILE, re-read on SIGHUP (see brambled(8))" },
	{ "listen", OPT_STR, F(listen), "0.0.0.0:" BR_DEFAULT_PORT_STR, 0, 0,
	  "ADDR[:PORT]", "address to listen on; port 0 picks a free port" },
	{ "allow", OPT_STR, F(allow), "127.0.0.0/8", 0, 0, "CIDR[,CIDR...]",
	  "networks allowed to connect" },
	{ "read-only", OPT_BOOL, F(read_only), NULL, 0, 0, NULL,
	  "refuse every change (EROFS)" },
	{ "no-root-squash", OPT_BOOL, F(no_root_squash), NULL, 0, 0, NULL,
	  "let client root act as root (default: squash to 65534)" },
	{ "insecure", OPT_BOOL, F(insecure), NULL, 0, 0, NULL,
	  "accept calls from source ports >= 1024" },
	{ "auth", OPT_STR, F(auth), "sys", 0, 0, "MODE",
	  "sys: AUTH_SYS from reserved ports (or MUNGE); munge: MUNGE only" },
	{ "munge-socket", OPT_PATH, F(munge_socket), NULL, 0, 0, "PATH",
	  "munged's socket (default: libmunge's, /run/munge/munge.socket.2)" },
	{ "state", OPT_PATH, F(state_dir), "/var/lib/bramble", 0, 0, "DIR",
	  "handle key and database" },
	{ "handles", OPT_STR, F(handles), "auto", 0, 0, "MODE",
	  "file handles: kernel, table (persistent table in the database), "
	  "auto (kernel where the filesystem can)" },
	{ "threads", OPT_UINT, F(threads), "4", 1, 256, "N",
	  "disk worker threads" },
	{ "max-conns", OPT_UINT, F(max_conns), "4096", 1, 1000000, "N",
	  "client connections at most; more are accepted and closed at once" },
	{ "idle-timeout", OPT_UINT, F(idle_timeout), "600", 0, 86400 * 7, "SEC",
	  "close a connection idle (nothing in flight, no traffic) this long; 0: never" },
	{ "request-timeout", OPT_UINT, F(request_timeout), "30", 0, 86400, "SEC",
	  "close a connection that begins a request and does not finish it in SEC; 0: never" },
	{ "no-inline", OPT_BOOL, F(no_inline), NULL, 0, 0, NULL,
	  "send every call to the workers (default: answer cheap ones from caches in the event loop)" },
	{ "drc", OPT_STR, F(drc), "disk", 0, 0, "MODE",
	  "duplicate-request cache: disk (kept in bramble.db across restarts), memory, or off" },
	{ "lock-lease", OPT_UINT, F(lock_lease), "30", 1, 3600, "SEC",
	  "a client's locks are released after SEC without a connection" },
	{ "lock-grace", OPT_UINT, F(lock_grace), NULL, 0, 3600, "SEC",
	  "after a restart, at most SEC for clients to reclaim their locks [lease]" },
	{ "chunk-size", OPT_UINT, F(chunk_size), "1048576", 65536, 1048576, "BYTES",
	  "chunk size of the chunk index (CHUNKMAP), a power of two" },
	{ "cache-mem", OPT_STR, F(cache_mem), "auto", 0, 0, "SIZE",
	  "RAM for hot chunks (READ_CHUNK), e.g. 512M or 2G; 0: none; "
	  "auto: 1/8 of RAM, at most 1G" },
	{ "no-peers", OPT_BOOL, F(no_peers), NULL, 0, 0, NULL,
	  "never send a node to another node for a chunk (default: nodes that fetch "
	  "the same chunks pass them on to each other)" },
	{ "compress", OPT_STR, F(compress), "auto", 0, 0, "MODE",
	  "zstd-compress chunks for clients that accept it (READ_CHUNK2): auto "
	  "(when it pays: the data compresses and the codec outruns the link), on, off" },
	{ "bench-disk", OPT_STR, F(bench_disk), "root", 0, 0, "WHO",
	  "who may run BENCH_DISK (bramble bench): root (uid 0 from a reserved "
	  "port or MUNGE), any (any user), off" },
	{ "foreground", OPT_BOOL, F(foreground), NULL, 0, 0, NULL,
	  "do not daemonize; log to stderr" },
	{ "log-level", OPT_STR, F(log_level_name), "info", 0, 0, "LEVEL",
	  "err, warn, info or debug" },
	{ "log-file", OPT_PATH, F(log_file), NULL, 0, 0, "FILE",
	  "log to FILE (SIGHUP reopens it) instead of syslog/stderr" },
	{ "pid-file", OPT_PATH, F(pid_file), NULL, 0, 0, "FILE",
	  "write the daemon's pid to FILE" },
	{ "port-file", OPT_PATH, F(port_file), NULL, 0, 0, "FILE",
	  "write the bound port to FILE once listening" },
	{ "trace", OPT_BOOL, F(trace), NULL, 0, 0, NULL,
	  "log one line per call: procedure, handle, status, microseconds" },
	{ "help", OPT_ACTION, 0, NULL, 0, 0, NULL, "show this help" },
	{ "version", OPT_ACTION, 0, NULL, 0, 0, NULL, "show the version" },
};

void config_usage(FILE *f)
{
	fprintf(f, "usage: brambled --export DIR | --exports FILE [options]\n\n"
		   "Serve DIR, or the exports listed in FILE, to bramblefs clients\n"
		   "over ONC RPC (program %u, version %u).\n\n",
		BR_PROGRAM, BR_VERSION);
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		char left[64];

		snprintf(left, sizeof(left), "--%s%s%s", opts[i].name,
			 opts[i].arg ? " " : "", opts[i].arg ? opts[i].arg : "");
		fprintf(f, "  %-28s %s", left, opts[i].help);
		if (opts[i].def)
			fprintf(f, " [%s]", opts[i].def);
		fputc('\n', f);
	}
}

static char *absolute(const char *p)
{
	char cwd[4096];
	size_t n;
	char *r;

	if (p[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return xstrdup(p);
	n = strlen(cwd) + 1 + strlen(p) + 1;
	r = xmalloc(n);
	snprintf(r, n, "%s/%s", cwd, p);
	return r;
}

static int set_value(struct config *cfg, const struct opt *o, const char *val,
		     char *err, size_t errlen)
{
	char *base = (char *)cfg;
	unsigned long long v;

	switch (o->type) {
	case OPT_STR:
	case OPT_PATH:
		if (!*val) {
			snprintf(err, errlen, "--%s: empty value", o->name);
			return -EINVAL;
		}
		free(*(char **)(base + o->off));
		*(char **)(base + o->off) = o->type == OPT_PATH ? absolute(val) : xstrdup(val);
		return 0;
	case OPT_BOOL:
		*(bool *)(base + o->off) = true;
		return 0;
	case OPT_UINT:
		if (parse_uint(val, o->min, o->max, &v) < 0) {
			snprintf(err, errlen, "--%s: '%s' is not a number from %llu to %llu",
				 o->name, val, o->min, o->max);
			return -EINVAL;
		}
		*(unsigned int *)(base + o->off) = (unsigned int)v;
		return 0;
	case OPT_ACTION:
		break;
	}
	return 0;
}

/* --cache-mem: "auto" (chunkcache_default_bound) or a number of bytes,
 * perhaps with a fraction and a binary suffix K, M, G, T ("1.5G"). */
static int parse_mem_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	const char *u;
	double v, mult = 1;
	char *end;

	if (!strcmp(s, "auto")) {
		*out = chunkcache_default_bound();
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s)
		return -EINVAL;
	if (*end) {
		u = strchr(units, *end & ~0x20);
		if (!u || !*u || (end[1] && strcasecmp(end + 1, "B") &&
				  strcasecmp(end + 1, "iB")))
			return -EINVAL;
		for (const char *p = units; p <= u; p++)
			mult *= 1024;
	}
	v *= mult;
	if (v >= 18446744073709551615.0)
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}

int config_parse(struct config *cfg, int argc, char **argv, char *err,
		 size_t errlen)
{
	struct option lo[ARRAY_SIZE(opts) + 1];
	int c, idx, rc;

	memset(cfg, 0, sizeof(*cfg));
	memset(lo, 0, sizeof(lo));
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		lo[i].name = opts[i].name;
		lo[i].has_arg = opts[i].type == OPT_BOOL || opts[i].type == OPT_ACTION
					? no_argument : required_argument;
		lo[i].val = 0x100 + (int)i;
		if (opts[i].def && set_value(cfg, &opts[i], opts[i].def, err, errlen) < 0)
			return -EINVAL;         /* a bad default is a bug */
	}
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":hV", lo, &idx)) != -1) {
		if (c == 'h' || (c >= 0x100 && !strcmp(opts[c - 0x100].name, "help"))) {
			config_usage(stdout);
			return 1;
		}
		if (c == 'V' || (c >= 0x100 && !strcmp(opts[c - 0x100].name, "version"))) {
			printf("brambled %s (protocol %u)\n", BR_SOFTWARE_VERSION, BR_VERSION);
			return 1;
		}
		if (c == ':') {
			snprintf(err, errlen, "%s: needs an argument", argv[optind - 1]);
			return -EINVAL;
		}
		if (c < 0x100) {
			snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
		rc = set_value(cfg, &opts[c - 0x100], optarg, err, errlen);
		if (!strcmp(opts[c - 0x100].name, "lock-grace"))
			cfg->lock_grace_set = true;     /* else: the lease */
		if (rc < 0)
			return rc;
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!cfg->export_dir == !cfg->exports_file) {
		snprintf(err, errlen, cfg->export_dir ?
			 "--export DIR and --exports FILE exclude each other" :
			 "--export DIR or --exports FILE is required");
		return -EINVAL;
	}
	if (strcmp(cfg->drc, "disk") && strcmp(cfg->drc, "memory") &&
	    strcmp(cfg->drc, "off")) {
		snprintf(err, errlen, "--drc: '%s' is not one of disk, memory, off",
			 cfg->drc);
		return -EINVAL;
	}
	if (strcmp(cfg->handles, "auto") && strcmp(cfg->handles, "kernel") &&
	    strcmp(cfg->handles, "table")) {
		snprintf(err, errlen, "--handles: '%s' is not one of auto, kernel, table",
			 cfg->handles);
		return -EINVAL;
	}
	if (strcmp(cfg->bench_disk, "root") && strcmp(cfg->bench_disk, "any") &&
	    strcmp(cfg->bench_disk, "off")) {
		snprintf(err, errlen, "--bench-disk: '%s' is not one of root, any, off",
			 cfg->bench_disk);
		return -EINVAL;
	}
	if (strcmp(cfg->auth, "sys") && strcmp(cfg->auth, "munge")) {
		snprintf(err, errlen, "--auth: '%s' is not sys or munge", cfg->auth);
		return -EINVAL;
	}
	if (cfg->chunk_size & (cfg->chunk_size - 1)) {
		snprintf(err, errlen, "--chunk-size: %u is not a power of two "
			 "(65536, 131072, ... 1048576)", cfg->chunk_size);
		return -EINVAL;
	}
	if (strcmp(cfg->compress, "auto") && strcmp(cfg->compress, "on") &&
	    strcmp(cfg->compress, "off")) {
		snprintf(err, errlen, "--compress: '%s' is not one of auto, on, off",
			 cfg->compress);
		return -EINVAL;
	}
	if (parse_mem_size(cfg->cache_mem, &cfg->cache_mem_bytes) < 0) {
		snprintf(err, errlen, "--cache-mem: '%s' is not auto or a size "
			 "(bytes, or a number with K, M, G or T: 256M, 1.5G)",
			 cfg->cache_mem);
		return -EINVAL;
	}
	if (log_parse_level(cfg->log_level_name, &cfg->log_level) < 0) {
		snprintf(err, errlen, "--log-level: '%s' is not one of err, warn, info, debug",
			 cfg->log_level_name);
		return -EINVAL;
	}
	return 0;
}

void config_release(struct config *cfg)
{
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		if (opts[i].type == OPT_STR || opts[i].type == OPT_PATH) {
			char **p = (char **)((char *)cfg + opts[i].off);

			free(*p);
			*p = NULL;
		}
	}
}
