/* log.h - one thread-safe log sink for every bramble program.
 *
 * Messages go to stderr in the foreground, to syslog otherwise.  Each line
 * is prefixed by the program name and level.  log_debug() does not format
 * its arguments when debug logging is off.  Anything a peer can trigger is
 * logged through log_ratelimit() so a hostile client cannot flood the log. */
#ifndef BR_LOG_H
#define BR_LOG_H

#include <stdbool.h>

#include "util.h"

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* ident: program name; to_syslog: false = stderr. */
void log_init(const char *ident, enum log_level level, bool to_syslog);
void log_set_level(enum log_level level);
extern enum log_level log_level_cur;
/* "err", "warn", "info", "debug" -> level; 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);
/* Redirect stderr logging to a file (reopened on SIGHUP by the caller
 * calling it again).  0 or -errno. */
int log_open_file(const char *path);

void log_msg(enum log_level lvl, const char *fmt, ...) BR_PRINTF(2, 3);
#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { \
		if (log_level_cur >= LOG_LVL_DEBUG) \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

/* True at most `burst' times per 10-second window for one call site's
 * state; count suppressed messages and report them with the next one. */
struct log_rl {
	long window;          /* start of window, seconds */
	unsigned int count;
	unsigned int dropped;
};
bool log_ratelimit(struct log_rl *rl, unsigned int burst);

#define log_warn_rl(...) \
	do { \
		static struct log_rl rl_; \
		if (log_ratelimit(&rl_, 10)) \
			log_warn(__VA_ARGS__); \
	} while (0)

#endif
