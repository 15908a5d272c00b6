/* log.c - the log sink. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum log_level log_level_cur = LOG_LVL_INFO;
static const char *log_ident = "bramble";
static bool log_syslog;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "err", "warn", "info", "debug" };

void log_init(const char *ident, enum log_level level, bool to_syslog)
{
	log_ident = ident;
	log_level_cur = level;
	log_syslog = to_syslog;
	if (to_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
	log_level_cur = level;
}

int log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (!strcmp(s, level_names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (!strcmp(s, "error") || !strcmp(s, "warning")) {
		*out = s[0] == 'e' ? LOG_LVL_ERR : LOG_LVL_WARN;
		return 0;
	}
	return -EINVAL;
}

int log_open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	if (dup2(fd, STDERR_FILENO) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	close(fd);
	log_syslog = false;
	return 0;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[2048];
	va_list ap;
	int saved = errno;

	if (lvl > log_level_cur)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_syslog) {
		syslog(prio[lvl], "%s", line);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		pthread_mutex_lock(&log_lock);
		fprintf(stderr, "%02d:%02d:%02d.%03ld %s: %s%s%s\n", tm.tm_hour,
			tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_ident,
			lvl == LOG_LVL_INFO ? "" : level_names[lvl],
			lvl == LOG_LVL_INFO ? "" : ": ", line);
		fflush(stderr);
		pthread_mutex_unlock(&log_lock);
	}
	errno = saved;
}

bool log_ratelimit(struct log_rl *rl, unsigned int burst)
{
	long now = (long)(now_ns() / 1000000000);
	bool ok;

	unsigned int dropped = 0;

	pthread_mutex_lock(&log_lock);
	if (now - rl->window >= 10) {
		dropped = rl->dropped;
		rl->window = now;
		rl->count = 0;
		rl->dropped = 0;
	}
	ok = rl->count++ < burst;
	if (!ok)
		rl->dropped++;
	pthread_mutex_unlock(&log_lock);
	/* Reported through the sink, after the lock, so syslog gets it too. */
	if (dropped)
		log_msg(LOG_LVL_WARN, "(%u similar messages suppressed)", dropped);
	return ok;
}
