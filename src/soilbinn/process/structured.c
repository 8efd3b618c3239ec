/* Structured steady-state solve of the CLM5 matrix model, in C.
 *
 * The same arithmetic, operation for operation and in the same order, as the torch path
 * of soilbinn.process.solvers (StructuredFactors: thomas_factor, block_thomas_factor with
 * the Jacobi-scaled adjugate inverse _inv3, solve, solve_transposed; reciprocal_condition
 * with SteadyStateSystem.column_norm), so both give bit-identical results. It exists
 * because, at a few hundred sites per call, the torch path's cost is the per-operation
 * overhead of its ~900 small operations, not arithmetic. Compile without -ffast-math and
 * with -ffp-contract=off (no fused multiply-add): see soilbinn/process/native.py.
 *
 * Layout (C-contiguous float64): K (n, 7, 20), f (n, 9), V (n, 3, 20) (lower, main,
 * upper), rhs (n, 7, 20); outputs x = P^-1 rhs and y = P^-T rhs_t (n, 7, 20), where
 * rhs_t is (n, 7, 20) or NULL for all ones, and rcond (n,).
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

/* GB sites are solved together, the site index innermost in every array, so that the
 * compiler can vectorise across sites and the sequential recurrences of different sites
 * overlap (the per-site arithmetic is unchanged: every site's result is bit-identical
 * to solving it alone). */
#define GB 8
#define FOR_B for (int b = 0; b < GB; b++)

/* packed 3x3 inverses with Jacobi row scaling (solvers._inv3), for GB sites */
static void inv3(const double b_[9][GB], double out[9][GB])
{
    double s[3][GB], m[9][GB], adj[9][GB], det[GB], q[3][GB];
    for (int i = 0; i < 3; i++)
        FOR_B s[i][b] = 1.0 / b_[4 * i][b];
    for (int e = 0; e < 9; e++)
        FOR_B m[e][b] = b_[e][b] * s[e / 3][b];
    for (int e = 0; e < 9; e++)
        FOR_B adj[e][b] = m[ADJ_A[e]][b] * m[ADJ_B[e]][b] - m[ADJ_C[e]][b] * m[ADJ_D[e]][b];
    FOR_B
    {
        double d = m[0][b] * adj[0][b];
        d = d + m[1][b] * adj[3][b];
        det[b] = d + m[2][b] * adj[6][b];
    }
    for (int k = 0; k < 3; k++)
        FOR_B q[k][b] = s[k][b] / det[b];
    for (int e = 0; e < 9; e++)
        FOR_B out[e][b] = adj[e][b] * q[e % 3][b];
}

/* (m v)_i = sum_k m[3i+k] v_k, summed in order k = 0, 1, 2 */
static inline void mv3(const double m[9][GB], const double v[3][GB], double out[3][GB])
{
    for (int i = 0; i < 3; i++)
        FOR_B
        {
            double a = m[3 * i][b] * v[0][b];
            a = a + m[3 * i + 1][b] * v[1][b];
            out[i][b] = a + m[3 * i + 2][b] * v[2][b];
        }
}

/* (m^T v)_k = sum_i m[3i+k] v_i, summed in order i = 0, 1, 2 */
static inline void mv3t(const double m[9][GB], const double v[3][GB], double out[3][GB])
{
    for (int k = 0; k < 3; k++)
        FOR_B
        {
            double a = m[k][b] * v[0][b];
            a = a + m[3 + k][b] * v[1][b];
            out[k][b] = a + m[6 + k][b] * v[2][b];
        }
}

/* GB sites; K (7, NL, GB), f (9, GB), V (3, NL, GB), rhs / rhs_t (7, NL, GB) or NULL
 * (rhs_t NULL: all ones); x, y (7, NL, GB) or NULL (that solve skipped) */
static void group(const double K[7][NL][GB], const double f[9][GB], const double V[3][NL][GB],
                  const double (*rhs)[NL][GB], const double (*rhs_t)[NL][GB],
                  double (*x)[NL][GB], double (*y)[NL][GB])
{
    const double(*lo)[GB] = V[0], (*dg)[GB] = V[1], (*up)[GB] = V[2];
    double linv[3][NL][GB], lcp[3][NL][GB];
    double sinv[NL][9][GB], scp[NL][9][GB];

    /* litter: three scalar tridiagonal factorisations (thomas_factor) */
    for (int p = 0; p < 3; p++) {
        for (int j = 0; j < NL; j++)
            FOR_B
            {
                double d = K[1 + p][j][b] + dg[j][b];
                if (j > 0)
                    d = d - lo[j][b] * lcp[p][j - 1][b];
                linv[p][j][b] = 1.0 / d;
                lcp[p][j][b] = (j < NL - 1) ? up[j][b] * linv[p][j][b] : 0.0;
            }
    }
    /* SOM: block tridiagonal with 3x3 blocks (_som_blocks, block_thomas_factor) */
    for (int j = 0; j < NL; j++) {
        double bl[9][GB];
        FOR_B
        {
            const double k1 = K[4][j][b], k2 = K[5][j][b], k3 = K[6][j][b], v = dg[j][b];
            bl[0][b] = k1 + v;
            bl[1][b] = (-f[6][b]) * k2; /* fs2s1 */
            bl[2][b] = (-f[8][b]) * k3; /* fs3s1 */
            bl[3][b] = (-f[4][b]) * k1; /* fs1s2 */
            bl[4][b] = k2 + v;
            bl[5][b] = 0.0;
            bl[6][b] = (-f[5][b]) * k1; /* fs1s3 */
            bl[7][b] = (-f[7][b]) * k2; /* fs2s3 */
            bl[8][b] = k3 + v;
        }
        if (j > 0)
            for (int e = 0; e < 9; e++)
                FOR_B bl[e][b] = bl[e][b] - lo[j][b] * scp[j - 1][e][b];
        inv3((const double(*)[GB])bl, sinv[j]);
        for (int e = 0; e < 9; e++)
            FOR_B scp[j][e][b] = (j < NL - 1) ? sinv[j][e][b] * up[j][b] : 0.0;
    }

    /* forward: P x = rhs, by the cascade CWD -> litter -> SOM (StructuredFactors.solve) */
    if (x != NULL) {
        double xl[3][NL][GB];
        for (int j = 0; j < NL; j++)
            FOR_B
            {
                double xc = rhs[0][j][b] / K[0][j][b];
                x[0][j][b] = xc;
                double flux = K[0][j][b] * xc;
                xl[0][j][b] = rhs[1][j][b];
                xl[1][j][b] = rhs[2][j][b] + f[0][b] * flux;
                xl[2][j][b] = rhs[3][j][b] + (1.0 - f[0][b]) * flux;
            }
        for (int p = 0; p < 3; p++) { /* thomas_solve, in place on the rhs */
            double(*r)[GB] = xl[p];
            FOR_B r[0][b] = r[0][b] * linv[p][0][b];
            for (int j = 1; j < NL; j++)
                FOR_B r[j][b] = (r[j][b] - lo[j][b] * r[j - 1][b]) * linv[p][j][b];
            for (int j = NL - 2; j >= 0; j--)
                FOR_B r[j][b] = r[j][b] - lcp[p][j][b] * r[j + 1][b];
            for (int j = 0; j < NL; j++)
                FOR_B x[1 + p][j][b] = r[j][b];
        }
        double d[NL][3][GB];
        for (int j = 0; j < NL; j++) {
            double r[3][GB], t[3][GB];
            FOR_B
            {
                double fl0 = K[1][j][b] * xl[0][j][b], fl1 = K[2][j][b] * xl[1][j][b],
                       fl2 = K[3][j][b] * xl[2][j][b];
                r[0][b] = (rhs[4][j][b] + f[1][b] * fl0) + f[2][b] * fl1;
                r[1][b] = rhs[5][j][b] + f[3][b] * fl2;
                r[2][b] = rhs[6][j][b];
            }
            if (j == 0) {
                mv3((const double(*)[GB])sinv[0], (const double(*)[GB])r, d[0]);
            } else {
                for (int c = 0; c < 3; c++)
                    FOR_B t[c][b] = r[c][b] - lo[j][b] * d[j - 1][c][b];
                mv3((const double(*)[GB])sinv[j], (const double(*)[GB])t, d[j]);
            }
        }
        for (int j = NL - 2; j >= 0; j--) {
            double t[3][GB];
            mv3((const double(*)[GB])scp[j], (const double(*)[GB])d[j + 1], t);
            for (int c = 0; c < 3; c++)
                FOR_B d[j][c][b] = d[j][c][b] - t[c][b];
        }
        for (int c = 0; c < 3; c++)
            for (int j = 0; j < NL; j++)
                FOR_B x[4 + c][j][b] = d[j][c][b];
    }

    /* transposed: P^T y = rhs_t (ones when NULL), SOM -> litter -> CWD
     * (StructuredFactors.solve_transposed) */
    if (y != NULL) {
        double z[NL][3][GB];
        for (int c = 0; c < 3; c++)
            FOR_B z[0][c][b] = rhs_t ? rhs_t[4 + c][0][b] : 1.0;
        for (int j = 1; j < NL; j++) {
            double t[3][GB];
            mv3t((const double(*)[GB])scp[j - 1], (const double(*)[GB])z[j - 1], t);
            for (int c = 0; c < 3; c++)
                FOR_B z[j][c][b] = (rhs_t ? rhs_t[4 + c][j][b] : 1.0) - t[c][b];
        }
        {
            double w[3][GB];
            for (int c = 0; c < 3; c++)
                FOR_B w[c][b] = z[NL - 1][c][b];
            mv3t((const double(*)[GB])sinv[NL - 1], (const double(*)[GB])w, z[NL - 1]);
        }
        for (int j = NL - 2; j >= 0; j--) {
            double w[3][GB];
            for (int c = 0; c < 3; c++)
                FOR_B w[c][b] = z[j][c][b] - lo[j + 1][b] * z[j + 1][c][b];
            mv3t((const double(*)[GB])sinv[j], (const double(*)[GB])w, z[j]);
        }
        for (int c = 0; c < 3; c++)
            for (int j = 0; j < NL; j++)
                FOR_B y[4 + c][j][b] = z[j][c][b];
        double rl[3][NL][GB];
        for (int j = 0; j < NL; j++)
            FOR_B
            {
                double r1 = rhs_t ? rhs_t[1][j][b] : 1.0, r2 = rhs_t ? rhs_t[2][j][b] : 1.0,
                       r3 = rhs_t ? rhs_t[3][j][b] : 1.0;
                rl[0][j][b] = r1 + (f[1][b] * K[1][j][b]) * z[j][0][b];
                rl[1][j][b] = r2 + (f[2][b] * K[2][j][b]) * z[j][0][b];
                rl[2][j][b] = r3 + (f[3][b] * K[3][j][b]) * z[j][1][b];
            }
        for (int p = 0; p < 3; p++) { /* transposed thomas_solve, in place */
            double(*r)[GB] = rl[p];
            for (int j = 1; j < NL; j++)
                FOR_B r[j][b] = r[j][b] - lcp[p][j - 1][b] * r[j - 1][b];
            FOR_B r[NL - 1][b] = r[NL - 1][b] * linv[p][NL - 1][b];
            for (int j = NL - 2; j >= 0; j--)
                FOR_B r[j][b] = (r[j][b] - lo[j + 1][b] * r[j + 1][b]) * linv[p][j][b];
            for (int j = 0; j < NL; j++)
                FOR_B y[1 + p][j][b] = r[j][b];
        }
        for (int j = 0; j < NL; j++)
            FOR_B
            {
                double r0 = rhs_t ? rhs_t[0][j][b] : 1.0;
                y[0][j][b] = (r0 + K[0][j][b] * (f[0][b] * rl[1][j][b] +
                                                 (1.0 - f[0][b]) * rl[2][j][b])) /
                             K[0][j][b];
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

/* gather sites i0.. of a (n, m) array into a (m, GB) block (the last site repeated
 * to fill a short group) and back */
static void gather(const double *a, int64_t n, int64_t i0, int m, double *out)
{
    for (int b = 0; b < GB; b++) {
        int64_t i = i0 + b < n ? i0 + b : n - 1;
        const double *src = a + i * m;
        for (int e = 0; e < m; e++)
            out[e * GB + b] = src[e];
    }
}

static void scatter(const double *blk, int64_t n, int64_t i0, int m, double *a)
{
    for (int b = 0; b < GB && i0 + b < n; b++) {
        double *dst = a + (i0 + b) * m;
        for (int e = 0; e < m; e++)
            dst[e] = blk[e * GB + b];
    }
}

/* n sites; x or y may be NULL (that solve is skipped); rhs_t NULL means all ones;
 * rcond (n,) when not NULL: the exact 1-norm reciprocal condition number (needs
 * rhs_t == NULL; y may then be NULL) */
void soilbinn_structured_solve(int64_t n, const double *K, const double *f, const double *V,
                               const double *rhs, const double *rhs_t, double *x, double *y,
                               double *rcond)
{
    static _Thread_local double Kg[7][NL][GB], fg[9][GB], Vg[3][NL][GB], rg[7][NL][GB],
        rtg[7][NL][GB], xg[7][NL][GB], yg[7][NL][GB];
    const int m = 7 * NL;
    int want_y = (y != NULL) || (rcond != NULL);
    for (int64_t i0 = 0; i0 < n; i0 += GB) {
        gather(K, n, i0, m, &Kg[0][0][0]);
        gather(f, n, i0, 9, &fg[0][0]);
        gather(V, n, i0, 3 * NL, &Vg[0][0][0]);
        if (rhs)
            gather(rhs, n, i0, m, &rg[0][0][0]);
        if (rhs_t)
            gather(rhs_t, n, i0, m, &rtg[0][0][0]);
        group((const double(*)[NL][GB])Kg, (const double(*)[GB])fg,
              (const double(*)[NL][GB])Vg, rhs ? (const double(*)[NL][GB])rg : NULL,
              rhs_t ? (const double(*)[NL][GB])rtg : NULL, x ? xg : NULL, want_y ? yg : NULL);
        if (x)
            scatter(&xg[0][0][0], n, i0, m, x);
        if (y)
            scatter(&yg[0][0][0], n, i0, m, y);
        if (rcond)
            for (int b = 0; b < GB && i0 + b < n; b++) {
                double yb[7 * NL];
                for (int e = 0; e < m; e++)
                    yb[e] = (&yg[0][0][0])[e * GB + b];
                int64_t i = i0 + b;
                rcond[i] = rcond_from(K + i * m, f + i * 9, V + i * 3 * NL, yb);
            }
    }
}

int soilbinn_structured_version(void) { return 3; }
