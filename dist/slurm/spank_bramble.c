/* spank_bramble.c - a SPANK plugin giving sbatch, salloc and srun the
 * option --stage=PATH[:PATH...]: the paths a job wants staged into each of
 * its nodes' bramble cache before it starts.
 *
 * The plugin does no staging itself.  In the submitting command (allocator
 * context: sbatch, salloc; local: srun making its own allocation) it puts
 * the value in the job's "job control" environment, which Slurm hands only
 * to the Prolog and Epilog, as SPANK_BRAMBLE_STAGE; the Prolog
 * (slurm-prolog) stages those paths as it stages `#BRAMBLE stage` lines and
 * `--comment bramble-stage=`.  So the paths, the identity and the failure
 * handling are the Prolog's alone, and this code never runs as root with
 * the user's input (slurmd loads it too, but only to know the option).
 *
 * plugstack.conf (PlugStackConfig= in slurm.conf), on every node and on
 * the machines jobs are submitted from:
 *     required PKGLIBDIR/spank_bramble.so
 * where PKGLIBDIR is configure's $(pkglibdir) (the installed
 * slurm.conf.example names the path; /usr/local/lib/bramble by default,
 * /usr/lib/<triplet>/bramble in the Debian package bramble-slurm)
 * (slurmd decides at startup whether SPANK plugins exist: restart it after
 * adding the file.)
 *
 * Options must be registered with spank_option_register() from
 * slurm_spank_init(): a static spank_options[] table is seen by srun only,
 * not by sbatch/salloc. */
#include <slurm/spank.h>
#include <string.h>

SPANK_PLUGIN(bramble, 1);

/* The option's value (the submitting command's only: one job per process). */
static char *stage_paths;

static int stage_opt(int val, const char *optarg, int remote)
{
	(void)val;
	(void)remote;
	if (!optarg || !*optarg) {
		slurm_error("bramble: --stage needs PATH[:PATH...]");
		return -1;
	}
	stage_paths = strdup(optarg);
	return stage_paths ? 0 : -1;
}

static struct spank_option stage_option = {
	"stage", "PATH[:PATH...]",
	"bramble: stage these files/directories of a bramblefs mount into each "
	"node's cache, pinned for the job, before it starts (the Prolog does it; "
	"the job is cancelled when they cannot be staged)",
	1, 0, stage_opt
};

int slurm_spank_init(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (spank_option_register(sp, &stage_option) != ESPANK_SUCCESS) {
		slurm_error("bramble: cannot register --stage");
		return -1;
	}
	return 0;
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
	spank_context_t ctx = spank_context();
	spank_err_t e;

	(void)ac;
	(void)av;
	if (!stage_paths || (ctx != S_CTX_ALLOCATOR && ctx != S_CTX_LOCAL))
		return 0;
	e = spank_job_control_setenv(sp, "BRAMBLE_STAGE", stage_paths, 1);
	if (e != ESPANK_SUCCESS) {
		slurm_error("bramble: cannot pass --stage to the Prolog: %s", spank_strerror(e));
		return -1;
	}
	return 0;
}
