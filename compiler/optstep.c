/* optstep.c — the optimizers of train declarations, applied through libnnrt's fused update
 * kernels (shared by the driver and the C API). */
#include <string.h>

#include "driver.h"
#include "irgen.h"
#include "nnrt.h"

int drv_opt_known(const char *kind) {
  static const char *known[] = {"adam", "adamw", "sgd", "momentum", "rmsprop", NULL};
  for (int i = 0; known[i]; i++)
    if (!strcmp(known[i], kind)) return 1;
  return 0;
}

void drv_opt_apply(const IrgObj *o, double lr, float *w, const float *g, float *m, float *v, int64_t n,
                   int64_t t) {
  double b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0, mom = 0, alpha = 0.99, nest = 0;
  irg_obj_num(o, "weight_decay", -1, &wd);
  irg_obj_num(o, "momentum", -1, &mom);
  irg_obj_num(o, "beta1", -1, &b1);
  irg_obj_num(o, "beta2", -1, &b2);
  irg_obj_num(o, "eps", -1, &eps);
  irg_obj_num(o, "alpha", -1, &alpha);
  irg_obj_num(o, "nesterov", -1, &nest);
  if (!strcmp(o->kind, "adam") || !strcmp(o->kind, "adamw"))
    nnrt_adam_step(w, g, m, v, n, (float)lr, (float)b1, (float)b2, (float)eps, (float)wd, t,
                   !strcmp(o->kind, "adamw"));
  else if (!strcmp(o->kind, "sgd") && mom == 0)
    nnrt_sgd_step(w, g, n, (float)lr, (float)wd);
  else if (!strcmp(o->kind, "sgd") || !strcmp(o->kind, "momentum"))
    nnrt_momentum_step(w, g, m, n, (float)lr, mom ? (float)mom : 0.9f, (float)wd, (int64_t)nest);
  else if (!strcmp(o->kind, "rmsprop"))
    nnrt_rmsprop_step(w, g, v, m, n, (float)lr, (float)alpha, (float)eps, (float)wd, (float)mom);
}
