/* bench_svg.c - `bramble bench --svg FILE': the layers as horizontal bars
 * a person reads at a glance, SVG text written by hand.  Two panels on
 * log scales (the layers differ by orders of magnitude: a 4 MB/s disk
 * beside a 3 GB/s loopback link): throughput in MB/s, and operations per
 * second (round trips, random reads, metadata).  The layers that make the
 * bottleneck are drawn red; the verdict is printed underneath. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "util.h"

#define W 1040
#define LABEL_X 16
#define BAR_X0 300
#define BAR_X1 860
#define ROW 24
#define BAR_H 16

static void xml_text(FILE *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '&')
			fputs("&amp;", o);
		else if (*s == '<')
			fputs("&lt;", o);
		else if (*s == '>')
			fputs("&gt;", o);
		else
			fputc(*s, o);
	}
}

static bool culprit_layer(const struct bench *bn, enum bench_layer l)
{
	switch (bn->culprit) {
	case BC_NETWORK:
		return l == BL_NET_DOWN || l == BL_NET_UP;
	case BC_SERVER_DISK:
		return l == BL_SDISK_WRITE || l == BL_SDISK_READ;
	case BC_CACHE_DISK:
		return l == BL_CDISK_WRITE || l == BL_CDISK_READ;
	case BC_NONE:
		break;
	}
	return false;
}

static const char *colour(const struct bench *bn, enum bench_layer l)
{
	if (culprit_layer(bn, l))
		return "#c0392b";
	if (l >= BL_SEQ_WRITE && l <= BL_RAND_READ_WARM)
		return "#27ae60";
	if (l >= BL_META_CREATE || l == BL_RTT)
		return "#8e44ad";
	return "#2e86c1";
}

static const char *tick_label(char *out, size_t len, double v)
{
	if (v >= 1000)
		return bench_num(out, len, v);
	snprintf(out, len, "%g", v);
	return out;
}

/* What a panel shows for layer l (round trips become calls per second). */
static double shown(const struct bench *bn, enum bench_layer l)
{
	const struct bench_fig *f = &bn->f[l];

	if (!f->done)
		return 0;
	return l == BL_RTT ? 1e6 / f->rate : f->rate;
}

static bool in_panel(enum bench_layer l, bool throughput)
{
	return (bench_layer_unit(l) == BU_MBPS) == throughput;
}

/* One panel: title, decade grid, a bar per measured layer.  Returns the
 * next free y. */
static int panel(FILE *o, const struct bench *bn, int y, bool throughput)
{
	double lo = 0, hi = 0, llo, lhi;
	const char *unit = throughput ? "MB/s" : "per second";

	for (int i = 0; i < BL_NLAYERS; i++) {
		double v = shown(bn, (enum bench_layer)i);

		if (!in_panel((enum bench_layer)i, throughput) || v <= 0)
			continue;
		lo = lo == 0 ? v : BR_MIN(lo, v);
		hi = BR_MAX(hi, v);
	}
	fprintf(o, "<text x=\"%d\" y=\"%d\" class=\"h\">%s (%s, log scale)</text>\n",
		LABEL_X, y, throughput ? "Throughput" : "Operations", unit);
	y += 10;
	if (hi <= 0)
		return y + ROW;
	llo = floor(log10(lo));
	if (log10(lo) - llo < 0.3)
		llo--;          /* the smallest bar stays long enough to see */
	lhi = ceil(log10(hi));
	if (lhi <= llo)
		lhi = llo + 1;
	for (double d = llo; d <= lhi; d++) {
		int x = BAR_X0 + (int)lrint((d - llo) / (lhi - llo) * (BAR_X1 - BAR_X0));
		char tick[32];
		int rows = 0;

		for (int i = 0; i < BL_NLAYERS; i++)
			rows += in_panel((enum bench_layer)i, throughput);
		fprintf(o, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"g\"/>\n"
			   "<text x=\"%d\" y=\"%d\" class=\"s\" text-anchor=\"middle\">%s</text>\n",
			x, y, x, y + rows * ROW, x, y + rows * ROW + 14,
			tick_label(tick, sizeof(tick), pow(10, d)));
	}
	for (int i = 0; i < BL_NLAYERS; i++) {
		enum bench_layer l = (enum bench_layer)i;
		double v = shown(bn, l);
		char label[64], val[32];
		int w;

		if (!in_panel(l, throughput))
			continue;
		snprintf(label, sizeof(label), "%s", l == BL_RTT ? "round trips (one at a time)"
								 : bench_layer_label(l));
		fprintf(o, "<text x=\"%d\" y=\"%d\">", LABEL_X, y + BAR_H - 3);
		xml_text(o, label);
		fputs("</text>\n", o);
		if (v <= 0) {
			fprintf(o, "<text x=\"%d\" y=\"%d\" class=\"s\">not measured</text>\n",
				BAR_X0 + 4, y + BAR_H - 3);
			y += ROW;
			continue;
		}
		w = (int)lrint((log10(v) - llo) / (lhi - llo) * (BAR_X1 - BAR_X0));
		w = BR_MAX(w, 2);
		fprintf(o, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n"
			   "<text x=\"%d\" y=\"%d\" class=\"s\">%s</text>\n",
			BAR_X0, y, w, BAR_H, colour(bn, l), BAR_X0 + w + 6, y + BAR_H - 3,
			bench_num(val, sizeof(val), v));
		y += ROW;
	}
	return y + 36;
}

#define WRAP 120                /* characters per verdict line at 13 px */

/* Lines s takes when wrapped at spaces to WRAP characters. */
static int wrapped_lines(const char *s)
{
	int n = 1;

	for (size_t len = strlen(s); len > WRAP; n++) {
		size_t cut = WRAP;

		while (cut > 0 && s[cut] != ' ')
			cut--;
		if (cut == 0)
			cut = WRAP;
		s += cut + (s[cut] == ' ');
		len = strlen(s);
	}
	return n;
}

/* s wrapped, one <text> per line from y; returns the last y used. */
static int text_wrapped(FILE *o, int y, const char *s)
{
	char line[WRAP + 1];

	for (;;) {
		size_t len = strlen(s), cut = len;

		if (len > WRAP) {
			cut = WRAP;
			while (cut > 0 && s[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = WRAP;
		}
		memcpy(line, s, cut);
		line[cut] = '\0';
		fprintf(o, "<text x=\"%d\" y=\"%d\">", LABEL_X, y);
		xml_text(o, line);
		fputs("</text>\n", o);
		s += cut;
		if (!*s)
			return y;
		s += *s == ' ';
		y += 18;
	}
}

int bench_write_svg(const struct bench *bn, const char *path)
{
	FILE *o = fopen(path, "w");
	int h = 0, y = 40;

	if (!o) {
		int rc = -errno;

		fprintf(stderr, "bramble bench: cannot write %s: %s\n", path, strerror(errno));
		return rc;
	}
	h = 50 + BL_NLAYERS * ROW + 2 * 46 + 40;
	for (unsigned int i = 0; i < bn->nverdict; i++)
		h += 18 * wrapped_lines(bn->verdict[i]);
	fprintf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		   "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n"
		   "<style>.h{font-weight:bold;font-size:15px}.s{font-size:11px;fill:#444}"
		   ".g{stroke:#ccc;stroke-width:1}</style>\n"
		   "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, h, W, h);
	fprintf(o, "<text x=\"%d\" y=\"22\" class=\"h\">bramble bench: ", LABEL_X);
	xml_text(o, bn->server);
	if (bn->mount) {
		fputs(", mount ", o);
		xml_text(o, bn->mount);
	}
	fputs("</text>\n", o);
	y = panel(o, bn, y + 10, true);
	y = panel(o, bn, y, false);
	fprintf(o, "<text x=\"%d\" y=\"%d\" class=\"h\">Verdict</text>\n", LABEL_X, y);
	for (unsigned int i = 0; i < bn->nverdict; i++) {
		y = text_wrapped(o, y + 18, bn->verdict[i]);
	}
	fputs("</svg>\n", o);
	if (fclose(o) != 0) {
		int rc = -errno;

		fprintf(stderr, "bramble bench: cannot write %s: %s\n", path, strerror(errno));
		return rc;
	}
	return 0;
}
