/* report_internal.h - pieces the report writers share (not public). */
#ifndef BN_REPORT_INTERNAL_H
#define BN_REPORT_INTERNAL_H

#include <stdio.h>
#include "bn/quant.h"

const char *bnq_report_title(const bn_quant_report *r);
/* Element-weighted NMSE of the (layer, kind) tensors; NAN when there are none
 * or one of them holds NaN/Inf. flags (may be NULL) gets their flags OR-ed in. */
double bnq_cell_nmse(const bn_quant_report *r, int layer, bn_role k, uint32_t *flags);
/* The tensor to show the histogram of: the focus (*chosen = 1), else the highest
 * NMSE; NULL if there is none. */
const bn_quant_stats *bnq_report_focus(const bn_quant_report *r, int *chosen);
/* "2048x5632" */
void bnq_shape_str(const bn_quant_stats *t, char *buf, size_t cap);
/* What set_meta stored (each NULL when not given). */
void bnq_report_meta(const bn_quant_report *r, const char **tool, const char **command, const char **out_type);
/* The other methods' reports added for the side-by-side (bn_quant_report_add_method). */
#define BNQ_MAX_METHODS 3
size_t bnq_report_n_methods(const bn_quant_report *r);
const bn_quant_report *bnq_report_method_at(const bn_quant_report *r, size_t i);
/* The self-contained HTML page (report_html.c). */
void bnq_write_html(const bn_quant_report *r, FILE *f);

#endif
