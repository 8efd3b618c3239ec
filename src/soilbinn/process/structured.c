/* Structured steady-state solve of the CLM5 matrix model, one site at a time, in C.
 *
 * The same arithmetic, operation for operation and in the same order, as the torch path
 * of soilbinn.process.solvers (StructuredFactors: thomas_factor, block_thomas_factor with
 * the Jacobi-scaled adjugate inverse _inv3, solve, solve_transposed), so both give
 * bit-identical results. It exists because, at a few hundred sites per call, the torch
 * path's cost is the per-operation overhead of its ~900 small operations, not arithmetic.
 * Compile without -ffast-math and with -ffp-contract=off (no fused multiply-add): see
 * soilbinn/process/native.py.
 *
 * Layout (C-contiguous float64): K (n, 7, 20), f (n, 9), V (n, 3, 20) (lower, main,
 * upper), rhs (n, 7, 20); outputs x = P^-1 rhs and y = P^-T rhs_t (n, 7, 20), where
 * rhs_t is (n, 7, 20) or NULL for all ones (the exact 1-norm condition number).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define NL 20

/* adjugate entry e = cofactor of the transposed position: m[A] m[B] - m[C] m[D]
 * (the index tables _ADJ_A.._ADJ_D of solvers.py) */
static const int ADJ_A[9] = {4, 2, 1, 5, 0, 2, 3, 1, 0};
static const int ADJ_B[9] = {8, 7, 5, 6, 8, 3, 7, 6, 4};
static const int ADJ_C[9] = {5, 1, 2, 3, 2, 0, 4, 0, 1};
static const int ADJ_D[9] = {7, 8, 4, 8, 6, 5, 6, 7, 3};

/* packed 3x3 inverse with Jacobi row scaling (solvers._inv3) */
static void inv3(const double *b, double *out)
{
    double s[3], m[9], adj[9];
    for (int i = 0; i < 3; i++)
        s[i] = 1.0 / b[4 * i];
    for (int e = 0; e < 9; e++)
        m[e] = b[e] * s[e / 3];
    for (int e = 0; e < 9; e++)
        adj[e] = m[ADJ_A[e]] * m[ADJ_B[e]] - m[ADJ_C[e]] * m[ADJ_D[e]];
    double det = m[0] * adj[0];
    det = det + m[1] * adj[3];
    det = det + m[2] * adj[6];
    double q[3];
    for (int k = 0; k < 3; k++)
        q[k] = s[k] / det;
    for (int e = 0; e < 9; e++)
        out[e] = adj[e] * q[e % 3];
}

/* (m v)_i = sum_k m[3i+k] v_k, summed in order k = 0, 1, 2 */
static inline void mv3(const double *m, const double *v, double *out)
{
    for (int i = 0; i < 3; i++) {
        double a = m[3 * i] * v[0];
        a = a + m[3 * i + 1] * v[1];
        out[i] = a + m[3 * i + 2] * v[2];
    }
}

/* (m^T v)_k = sum_i m[3i+k] v_i, summed in order i = 0, 1, 2 */
static inline void mv3t(const double *m, const double *v, double *out)
{
    for (int k = 0; k < 3; k++) {
        double a = m[k] * v[0];
        a = a + m[3 + k] * v[1];
        out[k] = a + m[6 + k] * v[2];
    }
}

static void site(const double *K, const double *f, const double *V, const double *rhs,
                 const double *rhs_t, double *x, double *y)
{
    const double *lo = V, *dg = V + NL, *up = V + 2 * NL;
    double linv[3][NL], lcp[3][NL];
    double sinv[NL][9], scp[NL][9];

    /* litter: three scalar tridiagonal factorisations (thomas_factor) */
    for (int p = 0; p < 3; p++) {
        const double *Kp = K + (1 + p) * NL;
        for (int j = 0; j < NL; j++) {
            double d = Kp[j] + dg[j];
            if (j > 0)
                d = d - lo[j] * lcp[p][j - 1];
            linv[p][j] = 1.0 / d;
            lcp[p][j] = (j < NL - 1) ? up[j] * linv[p][j] : 0.0;
        }
    }
    /* SOM: block tridiagonal with 3x3 blocks (_som_blocks, block_thomas_factor) */
    {
        const double *k1 = K + 4 * NL, *k2 = K + 5 * NL, *k3 = K + 6 * NL;
        const double fs1s2 = f[4], fs1s3 = f[5], fs2s1 = f[6], fs2s3 = f[7], fs3s1 = f[8];
        for (int j = 0; j < NL; j++) {
            double b[9];
            b[0] = k1[j] + dg[j];
            b[1] = (-fs2s1) * k2[j];
            b[2] = (-fs3s1) * k3[j];
            b[3] = (-fs1s2) * k1[j];
            b[4] = k2[j] + dg[j];
            b[5] = 0.0;
            b[6] = (-fs1s3) * k1[j];
            b[7] = (-fs2s3) * k2[j];
            b[8] = k3[j] + dg[j];
            if (j > 0)
                for (int e = 0; e < 9; e++)
                    b[e] = b[e] - lo[j] * scp[j - 1][e];
            inv3(b, sinv[j]);
            for (int e = 0; e < 9; e++)
                scp[j][e] = (j < NL - 1) ? sinv[j][e] * up[j] : 0.0;
        }
    }

    /* forward: P x = rhs, by the cascade CWD -> litter -> SOM (StructuredFactors.solve) */
    if (x != NULL) {
        const double f0 = f[0], g0 = 1.0 - f[0];
        double xl[3][NL];
        for (int j = 0; j < NL; j++) {
            double xc = rhs[j] / K[j];
            x[j] = xc;
            double flux = K[j] * xc;
            xl[0][j] = rhs[NL + j];
            xl[1][j] = rhs[2 * NL + j] + f0 * flux;
            xl[2][j] = rhs[3 * NL + j] + g0 * flux;
        }
        for (int p = 0; p < 3; p++) { /* thomas_solve, in place on the rhs */
            double *r = xl[p];
            r[0] = r[0] * linv[p][0];
            for (int j = 1; j < NL; j++)
                r[j] = (r[j] - lo[j] * r[j - 1]) * linv[p][j];
            for (int j = NL - 2; j >= 0; j--)
                r[j] = r[j] - lcp[p][j] * r[j + 1];
            for (int j = 0; j < NL; j++)
                x[(1 + p) * NL + j] = r[j];
        }
        double d[NL][3];
        for (int j = 0; j < NL; j++) {
            double r[3], t[3];
            double fl0 = K[NL + j] * xl[0][j], fl1 = K[2 * NL + j] * xl[1][j],
                   fl2 = K[3 * NL + j] * xl[2][j];
            r[0] = (rhs[4 * NL + j] + f[1] * fl0) + f[2] * fl1;
            r[1] = rhs[5 * NL + j] + f[3] * fl2;
            r[2] = rhs[6 * NL + j];
            if (j == 0) {
                mv3(sinv[0], r, d[0]);
            } else {
                for (int c = 0; c < 3; c++)
                    t[c] = r[c] - lo[j] * d[j - 1][c];
                mv3(sinv[j], t, d[j]);
            }
        }
        for (int j = NL - 2; j >= 0; j--) {
            double t[3];
            mv3(scp[j], d[j + 1], t);
            for (int c = 0; c < 3; c++)
                d[j][c] = d[j][c] - t[c];
        }
        for (int c = 0; c < 3; c++)
            for (int j = 0; j < NL; j++)
                x[(4 + c) * NL + j] = d[j][c];
    }

    /* transposed: P^T y = rhs_t (ones when NULL), SOM -> litter -> CWD
     * (StructuredFactors.solve_transposed) */
    if (y != NULL) {
        double z[NL][3];
        for (int j = 0; j < NL; j++) {
            double r[3];
            for (int c = 0; c < 3; c++)
                r[c] = rhs_t ? rhs_t[(4 + c) * NL + j] : 1.0;
            if (j == 0) {
                for (int c = 0; c < 3; c++)
                    z[0][c] = r[c];
            } else {
                double t[3];
                mv3t(scp[j - 1], z[j - 1], t);
                for (int c = 0; c < 3; c++)
                    z[j][c] = r[c] - t[c];
            }
        }
        {
            double w[3] = {z[NL - 1][0], z[NL - 1][1], z[NL - 1][2]};
            mv3t(sinv[NL - 1], w, z[NL - 1]);
        }
        for (int j = NL - 2; j >= 0; j--) {
            double w[3];
            for (int c = 0; c < 3; c++)
                w[c] = z[j][c] - lo[j + 1] * z[j + 1][c];
            mv3t(sinv[j], w, z[j]);
        }
        for (int c = 0; c < 3; c++)
            for (int j = 0; j < NL; j++)
                y[(4 + c) * NL + j] = z[j][c];
        double rl[3][NL];
        for (int j = 0; j < NL; j++) {
            double r1 = rhs_t ? rhs_t[NL + j] : 1.0, r2 = rhs_t ? rhs_t[2 * NL + j] : 1.0,
                   r3 = rhs_t ? rhs_t[3 * NL + j] : 1.0;
            rl[0][j] = r1 + (f[1] * K[NL + j]) * z[j][0];
            rl[1][j] = r2 + (f[2] * K[2 * NL + j]) * z[j][0];
            rl[2][j] = r3 + (f[3] * K[3 * NL + j]) * z[j][1];
        }
        for (int p = 0; p < 3; p++) { /* transposed thomas_solve, in place */
            double *r = rl[p];
            for (int j = 1; j < NL; j++)
                r[j] = r[j] - lcp[p][j - 1] * r[j - 1];
            r[NL - 1] = r[NL - 1] * linv[p][NL - 1];
            for (int j = NL - 2; j >= 0; j--)
                r[j] = (r[j] - lo[j + 1] * r[j + 1]) * linv[p][j];
            for (int j = 0; j < NL; j++)
                y[(1 + p) * NL + j] = r[j];
        }
        const double f0 = f[0], g0 = 1.0 - f[0];
        for (int j = 0; j < NL; j++) {
            double r0 = rhs_t ? rhs_t[j] : 1.0;
            y[j] = (r0 + K[j] * (f0 * rl[1][j] + g0 * rl[2][j])) / K[j];
        }
    }
}

/* ||P||_1, as SteadyStateSystem.column_norm: the maximum absolute column sum (NaN if
 * any column sum is NaN, as torch.amax) */
static double column_norm(const double *K, const double *f, const double *V)
{
    const double *lo = V, *dg = V + NL, *up = V + 2 * NL;
    double out[7];
    out[0] = 1.0; /* CWD passes everything on */
    out[1] = f[1];
    out[2] = f[2];
    out[3] = f[3];
    out[4] = f[4] + f[5];
    out[5] = f[6] + f[7];
    out[6] = f[8];
    double best = -INFINITY;
    for (int p = 0; p < 7; p++) {
        double g = 1.0 + out[p];
        for (int j = 0; j < NL; j++) {
            double c = K[p * NL + j] * g;
            if (p > 0) {
                double v = fabs(dg[j]);
                if (j < NL - 1)
                    v = v + fabs(lo[j + 1]);
                if (j > 0)
                    v = v + fabs(up[j - 1]);
                c = c + v;
            }
            if (isnan(c))
                return c;
            if (c > best)
                best = c;
        }
    }
    return best;
}

/* exact 1-norm reciprocal condition number from y = P^-T 1, as solvers._rcond */
static double rcond_from(const double *K, const double *f, const double *V, const double *y)
{
    double inv_norm = -INFINITY;
    for (int e = 0; e < 7 * NL; e++) {
        if (isnan(y[e])) {
            inv_norm = y[e];
            break;
        }
        if (y[e] > inv_norm)
            inv_norm = y[e];
    }
    double rc = 1.0 / (column_norm(K, f, V) * inv_norm);
    return (isfinite(rc) && inv_norm > 0) ? rc : 0.0;
}

/* n sites; x or y may be NULL (that solve is skipped); rhs_t NULL means all ones;
 * rcond (n,) when not NULL: the exact 1-norm reciprocal condition number (needs
 * rhs_t == NULL; y may then be NULL) */
void soilbinn_structured_solve(int64_t n, const double *K, const double *f, const double *V,
                               const double *rhs, const double *rhs_t, double *x, double *y,
                               double *rcond)
{
    double ybuf[7 * NL];
    for (int64_t i = 0; i < n; i++) {
        const double *Ki = K + i * 7 * NL, *fi = f + i * 9, *Vi = V + i * 3 * NL;
        double *yi = y ? y + i * 7 * NL : (rcond ? ybuf : NULL);
        site(Ki, fi, Vi, rhs ? rhs + i * 7 * NL : NULL, rhs_t ? rhs_t + i * 7 * NL : NULL,
             x ? x + i * 7 * NL : NULL, yi);
        if (rcond)
            rcond[i] = rcond_from(Ki, fi, Vi, yi);
    }
}

int soilbinn_structured_version(void) { return 2; }
