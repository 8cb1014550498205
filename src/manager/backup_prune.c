/* Retention (backup_prune.h): the rules as Proxmox Backup Server's prune defines them (its
 * documentation, "Pruning", and its prune simulator): each rule walks the backups newest
 * first and keeps the newest one of each period it has not kept one in yet, up to its count;
 * the others of a period it keeps one of are marked for removal, and a period an earlier rule
 * kept a backup in is not counted again. */
#include "manager/backup_prune.h"

#include <stdint.h>
#include <stdlib.h>

const char *const prune_rule_names[PRUNE_RULES] = {
	"keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly",
};

enum mark { UNMARKED, KEEP, REMOVE };

/* The period of t a rule counts in, as a number (keep-last: the backup itself). */
static int64_t period(int rule, time_t t, size_t self)
{
	struct tm tm;
	localtime_r(&t, &tm);
	int64_t y = tm.tm_year + 1900, m = tm.tm_mon + 1, d = tm.tm_mday;
	switch (rule) {
	case PRUNE_LAST: return (int64_t)self;
	case PRUNE_HOURLY: return ((y * 100 + m) * 100 + d) * 100 + tm.tm_hour;
	case PRUNE_DAILY: return (y * 100 + m) * 100 + d;
	case PRUNE_WEEKLY: {
		/* ISO 8601: the week (Monday first) with the year's first Thursday is week 1; the
		 * week's year is its Thursday's. */
		int wday = (tm.tm_wday + 6) % 7;        /* Monday 0 */
		int thursday = tm.tm_yday - wday + 3;    /* the day of the year of this week's Thursday */
		int64_t iy = y;
		int ylen = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 366 : 365;
		if (thursday < 0) {
			iy = y - 1;
			int plen = (iy % 4 == 0 && iy % 100 != 0) || iy % 400 == 0 ? 366 : 365;
			thursday += plen;
		} else if (thursday >= ylen) {
			iy = y + 1;
			thursday -= ylen;
		}
		return iy * 100 + thursday / 7 + 1;
	}
	case PRUNE_MONTHLY: return y * 100 + m;
	default: return y;
	}
}

static bool in(const int64_t *set, size_t n, int64_t v)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == v)
			return true;
	return false;
}

static int newest_first(const void *a, const void *b, void *times)
{
	const time_t *t = times;
	time_t x = t[*(const size_t *)a], y = t[*(const size_t *)b];
	return x < y ? 1 : x > y ? -1 : 0;
}

void backup_prune(const time_t *times, size_t n, const struct prune_keep *k, bool *keep)
{
	bool any = false;
	for (int r = 0; r < PRUNE_RULES; r++)
		any |= k->n[r] > 0;
	for (size_t i = 0; i < n; i++)
		keep[i] = !any;
	if (!any || n == 0)
		return;
	size_t *order = malloc(n * sizeof(*order));
	enum mark *mark = calloc(n, sizeof(*mark));
	int64_t *kept = malloc(n * sizeof(*kept)), *included = malloc(n * sizeof(*included));
	if (!order || !mark || !kept || !included) {
		for (size_t i = 0; i < n; i++)
			keep[i] = true;   /* out of memory: remove nothing */
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), newest_first, (void *)times);
	for (int r = 0; r < PRUNE_RULES; r++) {
		if (!k->n[r])
			continue;
		size_t nkept = 0, ninc = 0;
		for (size_t i = 0; i < n; i++)
			if (mark[order[i]] == KEEP)
				kept[nkept++] = period(r, times[order[i]], order[i]);
		for (size_t i = 0; i < n; i++) {
			size_t b = order[i];
			if (mark[b] != UNMARKED)
				continue;
			int64_t p = period(r, times[b], b);
			if (in(kept, nkept, p))
				continue;
			if (!in(included, ninc, p)) {
				if (ninc >= k->n[r])
					break;
				included[ninc++] = p;
				mark[b] = KEEP;
			} else {
				mark[b] = REMOVE;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		keep[i] = mark[i] == KEEP;
out:
	free(order);
	free(mark);
	free(kept);
	free(included);
}
