/* Fault injection for tests/fault_test.sh. Not part of the public API: tools/cmd_train.c calls
 * it only when the environment sets MX_FAULT_INJECT=<point>:<n>, which arms SIGKILL at the
 * n-th (1-based) event of that kind in this process
 * (SIGKILL unless said otherwise):
 *
 *   ckpt_write  in the middle of writing a checkpoint (half its tensors in the temporary file;
 *               checkpoint_best and checkpoint_last writes both count)
 *   log_row     right after an epoch's log.csv row is on disk, before its checkpoint
 *   ckpt_done   right after a checkpoint is committed (renamed into place)
 *   eval_sigterm    SIGTERM (not SIGKILL) at the start of the n-th epoch evaluation
 *   report_sigterm  SIGTERM at the start of the final report (n = 1)
 *
 * A bad spec is MX_ERR_CONFIG. */
#ifndef MX_TRAINER_FAULT_H
#define MX_TRAINER_FAULT_H

#include "metrix/train.h"

mx_status mx_trainer_fault_inject(mx_trainer *t, const char *spec);

#endif
