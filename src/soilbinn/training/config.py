"""Strict, typed training configuration (YAML in, dataclasses out).

Every section is a frozen-free dataclass; :func:`load_config` rejects unknown keys with
their full path (``model.hiden``), wrong types and out-of-range values, and applies
command-line overrides ``a.b=c`` (values parsed as YAML). The packaged defaults are the
configuration of the BINN paper (Xu et al. 2025), ``soilbinn/configs/binn_paper.yaml``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """Invalid configuration: names the file and the key path."""


@dataclass
class DataConfig:
    """Which dataset and how it is split."""

    path: str | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split: str = "random"  # random | spatial
    split_seed: int = 12345
    block_deg: float = 2.0
    covariates: list[str] | None = None  # numeric covariates to use (None: all)
    categorical: list[str] | None = None  # categorical covariates to use (None: all)
    use_lonlat: bool = True


@dataclass
class LonLatEncodingConfig:
    """Multi-scale sinusoidal (Space2Vec-like) encoding of (lon, lat)."""

    enabled: bool = True
    n_features: int = 128
    n_scales: int = 16
    min_scale_deg: float = 1.0
    max_scale_deg: float = 360.0


@dataclass
class TemperatureConfig:
    """Output ``p = sigmoid(z / T)`` with ``T`` in [min, max] (learnable)."""

    init: float = 59.5
    min: float = 10.0
    max: float = 109.0
    learnable: bool = True


@dataclass
class ModelConfig:
    """Parameter network (BINN) or pure-NN baseline, and the process model."""

    kind: str = "binn"  # binn | nn
    preset: str = "binn2025"
    transport: str = "clm5"
    solver: str = "structured"
    bedrock: str = "proda"  # proda | conservative (transport below bedrock, process_model.md)
    learned: list[str] | str = "all"
    fixed: dict[str, float] = field(default_factory=dict)  # unit scale [0, 1]
    fixed_physical: dict[str, float] = field(default_factory=dict)  # physical units
    fixed_from: str | None = None  # dataset variable (site, param) on the unit scale
    hidden: int = 128
    depth: int = 3
    batchnorm: bool = True
    activation: str = "leaky_relu"
    negative_slope: float = 0.3
    dropout: float = 0.0
    embedding_dim: int = 5
    # numeric covariates: minmax (training min/max to [0, 1], clipped) or zscore (clipped
    # to the training range, then standardised with the training mean and sd)
    scaling: str = "minmax"
    lonlat_encoding: LonLatEncodingConfig = field(default_factory=LonLatEncodingConfig)
    temperature: TemperatureConfig = field(default_factory=TemperatureConfig)
    # BINN: an undecayed logit-linear trend from the covariates (soilbinn.nn.param_net):
    # true | false | auto (on when at most train.gp_prior.max_learned parameters are learned
    # and the GP prior is asked for, whose average tames it; with many learned parameters
    # the trend spreads those the data do not constrain: docs/recovery_ablation.md)
    covariate_trend: bool | str = False


@dataclass
class PlausibilityConfig:
    """Penalty on steady states above a plausible column carbon stock, at the batch's
    sites and at resampled covariate vectors (``training.plausibility``; BINN only)."""

    weight: float = 0.0  # 0: off; relative to one observation's misfit (LOSS_SCALES)
    ceiling: float = 500.0  # kg m-2, carbon of all pools over 0-8.6 m (flag: 1,000)
    anchors: int = 0  # covariate vectors resampled per feature, drawn per batch


@dataclass
class LossConfig:
    """SOC misfit (NaN-masked) plus the parameter regulariser and the plausibility term."""

    kind: str = "smooth_l1"  # see soilbinn.training.losses.LOSSES
    smooth_l1_beta: float = 1.0
    depth_weighting: str = "none"  # see soilbinn.training.losses.DEPTH_WEIGHTS
    regulariser_weight: float = 100.0
    regulariser_sharpness: float = 10.0
    # weight of one stock increment relative to one layer observation, at sites without
    # layers; and at sites that also carry layers (e.g. RaCA's published stocks of a
    # layered pedon: the same measurement twice, scored but not fitted; training/stocks.py)
    stock_weight: float = 1.0
    stock_weight_with_layers: float = 0.0
    plausibility: PlausibilityConfig = field(default_factory=PlausibilityConfig)


@dataclass
class OptimizerConfig:
    lr: float = 1e-2
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])


@dataclass
class SchedulerConfig:
    kind: str = "none"  # none | cosine | step | plateau
    step_size: int = 10
    gamma: float = 0.5
    min_lr: float = 1e-5


@dataclass
class PolishConfig:
    """Full-batch L-BFGS on the network weights after Adam (see ``training.polish``)."""

    iterations: int = 0  # 0: off; L-BFGS iterations, or outer iterations of newton
    method: str = "lbfgs"  # lbfgs | newton (per-site Newton in output space, BINN only)
    inner_iterations: int = 400  # newton: L-BFGS iterations fitting the network per step
    damping: float = 0.1  # newton: initial Levenberg-Marquardt damping (x mean Hessian diag)
    start: str = "best"  # best | last: Adam checkpoint the polishing starts from
    monitor: bool = True  # keep the weights of the lowest validation objective
    # mean: the objective over all validation observations; median: the median over
    # validation sites of each site's mean layer misfit (robust to a few extrapolated sites)
    monitor_statistic: str = "mean"
    history_size: int = 20
    max_seconds: float | None = None
    weight_decay: float = 0.0  # L2 on the Linear weights in the polishing objective
    # plus this divided by the number of training observations (a fixed prior on the
    # weights against a likelihood that grows with the data: stronger on small datasets)
    weight_decay_per_obs: float = 0.0
    patience: int = 0  # stop after this many checks (every 10 iterations) without val gain


@dataclass
class GPPriorConfig:
    """A Gaussian-process prior fitted after the network (``training.gp_fit``, BINN only)."""

    iterations: int = 0  # 0: off; damped Newton steps of the GP posterior mode
    # after each Newton step, up to this many chord steps: the step's factorised system
    # (its Hessians and damping) with the gradient at the new point, one process-model
    # pass each; the mode converges slowly (about linearly) along the water scalar's kink
    # and the SOC's trade-off ridges, and chord steps buy that progress at a fraction of a
    # Newton step's cost
    chord_steps: int = 0
    # a round's Newton steps end once one (with its chord steps) lowers the negative log
    # posterior by less than this (nats; the rounds' evidences differ by tens)
    tolerance: float = 0.1
    hyper_steps: int = 40  # L-BFGS iterations on the Laplace evidence (hyperparameters)
    # L-BFGS iterations in a start's first round, whose fit begins at fresh
    # hyperparameters (the later rounds' begin at the last round's); null: hyper_steps
    hyper_steps_first: int | None = None
    # evidence fits: the first at the network's solution, each further one at the previous
    # fit's posterior mode (hyperparameters warm-started, then ``iterations`` Newton steps
    # again). The network's parameters are compressed where the SOC says little, and the
    # evidence read at them gives a prior too narrow to undo that; at the GP's own mode
    # the prior widens (type-II maximum likelihood by alternation)
    rounds: int = 1
    subset: int = 400  # training sites the evidence is computed on (cost grows as subset^3)
    # which training sites the evidence reads: "fixed", one random subset for every round;
    # "per_round", a new one each round after the first (the kept round is chosen by the
    # evidence of all sites, so the rounds compare). Which 400 sites the evidence reads
    # decided the recovery target on three of four lab misses given three draws; a new
    # draw per round met it on 10 of 16 truths, one draw on 8 and 10 with two seeds
    # (docs/recovery_ablation.md, stop 42)
    subset_draw: str = "fixed"
    # how those sites are drawn: "random", uniformly; "stratified", by proportional
    # allocation over ``strata`` k-means clusters of the standardised site features (each
    # cluster gets its share of the subset, its sites drawn at random within it): the same
    # expected sites as a uniform draw, without the draws that leave parts of the covariate
    # space under- or over-read. On 60 lab truths: the target met on 33 against 31, a
    # higher evidence at all training sites on 36 (docs/recovery_ablation.md, stop 88)
    subset_sampling: str = "random"
    strata: int = 50
    # the evidence is read on up to this many disjoint random subsets of ``subset`` sites
    # each (as many as the training sites fill), taken as independent (the sum of their log
    # evidences, a product of experts): more sites at a cost that grows with the blocks,
    # not as the cube of all their sites. 8 blocks of 200 met the target on 11 of 16 lab
    # truths with one seed, 12 of 150 on 9 with two, within the spread of one subset's own
    # seeds (docs/recovery_ablation.md, stop 42)
    evidence_blocks: int = 1
    # this many random draws of the sites the evidence fits read (``subset``,
    # ``evidence_blocks``), each run as its own starts (phases): with ``select_after`` every
    # draw's starts run that many rounds and the one of highest Laplace evidence at all
    # training sites goes on; without it every draw runs all rounds (the stage once per
    # draw) and the highest evidence is kept. The evidence read on a few hundred sites is
    # flat enough that its optimum moves with the draw; the evidence at all sites tells the
    # draws apart (docs/recovery_ablation.md, stops 43-44). No further draw is begun once
    # the kernel basis is doubled (rank_max)
    draws: int = 1
    lengthscale: float = 3.0  # initial length scale, in training standard deviations
    # leading eigenpairs of the site kernel kept in the Newton steps (a reduced-rank GP;
    # the step solves rank x learned unknowns, its cost grows as their cube); when a
    # round's first step cannot fit the data as well as the network with them (a prior too
    # smooth for the parameters), twice as many, up to rank_max, for it and later rounds;
    # with them at most half the rounds run per start (each costs two to three times more),
    # and a phase chosen after select_after rounds goes on only while its rounds fit in the
    # work of the stage's rounds at the base rank, a doubled round counting two
    rank: int = 500
    rank_max: int = 1000
    # weight of the GP's parameters in the prediction, the rest the network's (an average
    # over the two priors; 1: the GP alone)
    blend: float = 1.0
    # learned parameters taken from the GP alone (weight 1 whatever ``blend``); names
    # outside the learned ones are ignored. For w_scaling, which a site's SOC constrains only
    # where the water scalar is unsaturated, the network carries the saturated sites' free
    # values into those where it is constrained (too high there); the GP weighs each site by
    # its information (docs/recovery_ablation.md, stop 25)
    gp_alone: list[str] = field(default_factory=list)
    # the covariance B between the learned parameters' logits: false, diagonal (a priori
    # they vary independently across sites, so the trade-off ridges of the SOC misfit stay
    # in the likelihood); true, a full matrix fitted by the evidence, which at the
    # network's solution learns those ridges as correlations between parameters
    correlated: bool = False
    # where the GP's Newton steps start w_scaling (when learned): "network", the network's
    # outputs; "saturation", each site's value lowered to just below the threshold above
    # which the water scalar saturates in every cell (the SOC is the same there, but the
    # likelihood has a w_scaling gradient: a saturated start can hide the basin the
    # evidence prefers); "both": the two starts, the higher evidence kept (twice the cost;
    # docs/recovery_ablation.md, stop 28)
    w_start: str = "network"
    # the "saturation" start's w_scaling as a factor of each site's threshold: up to 1, it
    # is lowered to that where it lies above (0.98 leaves the SOC unchanged but for the
    # driest cells; lower values unsaturate more cells); above 1, raised to that where it
    # lies below (1.02: every cell saturated, no water limitation at the start). With
    # several margins each is a start with its own rounds, and the highest evidence is kept
    # (docs/recovery_ablation.md, stops 39, 48)
    w_margin: list[float] = field(default_factory=lambda: [0.98])
    # w_scaling's saturation pattern read off the fit (needs select_after): when the phase
    # of highest evidence is chosen to go on, at the training sites where its mode has
    # w_scaling at this factor of its saturation threshold or more, w_scaling moves to
    # 1.02 of the threshold (no water limitation) and the other learned parameters back to
    # the network's; the rounds after start from there, and the round of highest evidence
    # is kept as always; no extra rounds. Null: off (demo). The Newton steps otherwise keep
    # a mild limitation at most sites whose truth saturates. With 0.8: on the 11 misses of
    # stops 76-78 where it moved sites the evidence rose on all 11, tau4s3 on 9, no pass;
    # on 14 fresh truths 9 passes against demo's 8, none lost; the evidence lower on 6 of
    # the 24 runs where it moved sites (docs/recovery_ablation.md, stop 78)
    w_pattern: float | None = None
    # w_scaling probed below its saturation threshold (needs select_after and several
    # phases, as demo's two paths): when the phase of highest evidence is chosen to go on
    # and it began from a raised start (a w_margin above 1: no water limitation anywhere),
    # at each training site whose mode has w_scaling at or above its threshold (where the
    # SOC does not depend on it and the Newton steps cannot find a limitation), w_scaling is
    # tried at each of these factors of the threshold with the other parameters held, and
    # moved to the best where the SOC's log likelihood rises by more than w_probe_bar
    # (after w_pattern). With the raised start it makes the prior "no water limitation
    # unless the SOC asks for one" (docs/recovery_ablation.md, stop 81). Empty: off
    w_probe: list[float] = field(default_factory=list)
    w_probe_bar: float = 3.0  # log likelihood units a probed move must gain
    # with several starts (several w_margin, w_start "both" or correlation "both"): every
    # start runs this many rounds, then only the one with the highest evidence runs the
    # rest (null: every start runs all rounds). With w_margin [0.98, 0.8], compared after
    # three of four rounds the start kept was the one all four rounds keep on 27 of 29 lab
    # truths, after one or two on 22 (docs/recovery_ablation.md, stop 40)
    select_after: int | None = None
    # with several starts: "all", every start runs every kernel (correlation, categories)
    # and draw, all compared after select_after rounds; "chosen", only the first start
    # does, and each later start runs all its rounds with the kernel and draw the first
    # start's comparison chose, the first start's best phase its remaining rounds; the
    # highest evidence of any round is kept. A kernel choice is made once, and a start
    # compared only on its final evidence (docs/recovery_ablation.md, stop 48)
    later_starts: str = "all"
    # the kernel over the sites: "shared", one set of length scales for all learned
    # parameters (the prior kron(Kx, B)); "per_parameter", each learned parameter its own
    # length scales and variance, a priori independent (needs correlated: false). A
    # parameter that varies with a few covariates is then smooth along the others, where
    # a shared kernel must vary along every covariate that any parameter needs. When no
    # round is kept with per-parameter kernels, the stage runs again with the shared one
    kernel: str = "shared"
    # with per_parameter kernels: a Gaussian prior on each parameter's log length scales
    # around their mean over the parameters, this standard deviation (natural log units;
    # null: independent). The parameters' SOC trade-offs let the evidence move variation
    # from a weakly identified parameter to another; the tie keeps their kernels alike
    # unless the evidence says otherwise
    lengthscale_spread: float | None = None
    # with per_parameter kernels (a shared kernel reads all), which features each
    # parameter's kernel reads: "dense",
    # all of them; "sbl", from the second round on, those that sparse Bayesian learning of
    # an additive model at the last round's mode calls relevant to it (training/
    # gp_support.py; re-estimated every round, the evidence fit run again on them), the
    # others held out as irrelevant. The dense fit's per-parameter kernels end up nearly
    # alike, each varying along the union of what the parameters need (stop 67)
    support: str = "dense"
    # "sbl": a group whose fitted prior precision ends above this is irrelevant
    support_precision: float = 1e4
    # the kernels' correlation function: "squared_exponential", "matern52" (rougher: a
    # parameter may change faster along a covariate), "additive" (sums of functions of one
    # and of two features: gp_prior.additive), "additive_exponential" (the same sums with
    # the one-dimensional exponential correlation, whose functions may step along a
    # covariate; stop 53), "squared_exponential+additive" (per parameter the two weighted
    # by 1 - w and w, w fitted by the evidence with the length scales of both: the
    # evidence chooses the structure per parameter; demo's since stop 59), or a list of
    # them: every start runs with
    # each, the highest evidence of all kept ("both": squared_exponential and matern52). Of
    # 36 lab truths, 33 met the recovery target with the squared exponential or the Matern
    # kernel, whichever had the higher evidence, 32 with either alone
    # (docs/recovery_ablation.md, stop 38)
    correlation: str | list[str] = "squared_exponential"
    # prior variance (logits^2) of a constant offset of each learned parameter's logits,
    # shared by all sites and added to its kernel (kernel: per_parameter only): the posterior
    # mode then moves each parameter's level together with its variation. Without it (0)
    # the level stays at the prior's mean, the logits' mean the stage starts from: where the
    # evidence shrinks a parameter's variance (a parameter that varies little between sites)
    # the network's level is kept; on a truth constant across sites tau4s3 came out 0.52
    # logits low at 10% noise, with 1.0 0.02. Not in demo: on 72 lab truths it met the
    # recovery target on as many as without (docs/recovery_ablation.md, stop 62)
    offset_variance: float = 0.0
    # fit each parameter's offset variance by the evidence with the other hyperparameters
    # (offset_variance > 0 its start, each start's first round): where the logits' level
    # is well placed the evidence shrinks it toward 0, where the SOC pulls the level away
    # from the prior's mean it grows and frees the level. From 0.01 the constant truth
    # came out within 0.02 logits; on 20 truths drawn afterwards it met the recovery
    # target on the same 14 as demo, so demo has neither (docs/recovery_ablation.md, stop 63)
    offset_fit: bool = False
    # the prior's mean of each parameter's logits: "evidence", fitted with the other
    # hyperparameters; "modes", the mean of the logits each round starts from (the
    # network's, then the last posterior mode), not fitted. Fitted, it is confounded with
    # the kernels' slowest directions and can drift where the evidence is flat, centring
    # the weakly resolved sites low; from the modes (demo since stop 52) the target was met
    # on 38 of 50 truths against 37 and on 19 of 24 drawn afterwards against 16
    # (docs/recovery_ablation.md, stops 41, 51, 52); "start", the mean of the start's
    # logits (the network's) in every round: the rounds do not carry the modes' low drift
    # on, and the network's own level error stays (stop 69)
    mean: str = "evidence"
    # each evidence fit's kernel variances times this (1: as fitted): the evidence, read on
    # ``subset`` sites at the network's or a mode's logits, prefers a prior narrower than
    # the SOC of all training sites supports, and the posterior mode then fits the
    # training sites' SOC worse than the truth does (7 of 11 misses of stop 70). Not in
    # demo: with 2, 16 of 26 fresh truths met the recovery target against 15
    variance_scale: float = 1.0
    # the SOC log likelihood's weight in the first rounds, one factor per round (the later
    # rounds 1): a round with factor b fits the hyperparameters and the posterior mode as
    # if the observation error variance were 1 / b times the one the misfit gives, so with
    # b < 1 its mode leans on the prior, smooth where the start was not; it is the next
    # round's start and never kept (its evidence is not the model's); the last round is
    # never tempered (with rounds: 1 there is no tempering). From the network's
    # solution the rounds climb to the nearest mode and hyperparameters that describe it;
    # from the truth they reach a higher evidence on 5 of 6 misses (stop 71), and one
    # tempered first round reaches more of that: [] none, demo [0.3]
    temper: list[float] = field(default_factory=list)
    # a tempered round after untempered ones starts again from the start's logits, with
    # fresh hyperparameters and support: the rounds before it stay candidates, and the
    # evidence chooses between the network's basin and the tempered path's (with temper
    # [1, 0.3] the first round is the network's, the second the tempered restart)
    temper_from_start: bool = False
    # "tempered": every start runs the ``temper`` rounds; "both": every start also runs
    # the untempered rounds from the same start, as a phase of its own, and with
    # ``select_after`` the one of higher Laplace evidence at all training sites goes on.
    # The evidence often prefers the untempered path by hundreds of log units where the
    # tempered one misses, and the tempered one where the untempered one misses (stop 72)
    temper_paths: str = "tempered"
    # with temper_paths "both" and w_start "saturation": per w_margin entry, the paths its
    # start runs ("both", "tempered" or "untempered"), e.g. w_margin [0.98, 1.02] with
    # start_paths [both, tempered]: three phases, the raised start on the tempered path
    # alone (docs/recovery_ablation.md, stop 81). Empty: every start runs both
    start_paths: list[str] = field(default_factory=list)
    # the categorical covariates (one-hot columns of the GP's features): "product", inside
    # the kernel's distance (a category's sites correlate less with the others'); "additive",
    # out of the distance and added to the kernel as one random offset per category, its
    # variance a hyperparameter (gp_prior.site_kernel): an effect shared by every site of
    # the category, wherever its other covariates put it; "both": every start's rounds run
    # with each, the highest evidence kept (twice the stage, or fewer rounds with
    # select_after)
    categories: str = "product"
    # steps of the parameters along the covariates (kernel per_parameter): each candidate
    # is a centred indicator [x > e], e every 0.04 quantile of each numeric covariate and
    # of lon, lat, as a rank-one term of one parameter's prior covariance (outside the
    # kernel's features, so the additive kernel's pairs do not take it). At the start of
    # each phase's first untempered round, after its evidence fit, the candidate that
    # raises the Laplace evidence of all training sites most is added while the rise
    # exceeds ``step_bar`` nats, with the variance at which the rise is largest (the fast
    # marginal likelihood, Tipping & Faul 2003; gp_prior.select_steps), at most this many;
    # the evidence is fitted again with them, and they are kept only if the evidence of
    # all training sites at the round's start is then higher than without them. Not the
    # parameters exempt from the support search (w_scaling with w_start saturation).
    # 0: none (docs/recovery_ablation.md, stop 74)
    steps: int = 0
    # regional offsets: for each size s (degrees), the cells [i s, (i + 1) s) x [j s,
    # (j + 1) s) of longitude and latitude that hold training sites join the GP's features
    # as a categorical covariate of their own: in every kernel each cell adds a random
    # offset shared by its sites (outside the correlation's features), one variance per
    # size and parameter. A gate at each phase's start sets them: after the phase's first
    # evidence fit (without the cells) the variances are fitted alone on its sites; unless
    # they raise those sites' evidence by more than AIC's price there (a nat per
    # variance), the cells are dropped, else kept if the evidence of all training sites
    # rises by more than cells_bar. Kept, they stay as the gate set them (the evidence fits and support sbl
    # leave them out); dropped, the phase is the one without them to the last bit. A new
    # site outside every training cell gets no offset. Needs data.use_lonlat and
    # per_parameter kernels. []: none (docs/recovery_ablation.md, stops 75 and 76). Not
    # in demo: they help only where the regions are cells of the same grid; on offsets
    # over rectangles of another size and origin the gate gained 0-4 nats and dropped
    # them (stop 77)
    cells: list[float] = dataclasses.field(default_factory=list)
    # regions a user knows (ecoregions, soil orders, basins...): categorical covariates of
    # the dataset, by name, that the network does not read; in the GP stage each region
    # adds a random offset shared by its sites, as a cell of ``cells`` does, behind the
    # same gate (one variance per category and parameter), and in prediction a site of a
    # region with training sites gets its offset (none otherwise). On 15 lab truths with
    # regional offsets the target was met on 14 with the truth's own regions (1 without),
    # and with irrelevant regions the gate dropped them on 6 of 6, the run without them to
    # the digit (docs/recovery_ablation.md, stop 85). Needs per_parameter kernels. []: none
    regions: list[str] = dataclasses.field(default_factory=list)
    # least rise in the log evidence of all training sites for a phase to keep the cells;
    # null: half the log of the number of training sites per variance the cells add (one
    # per size and learned parameter), the Bayesian information criterion's price of a
    # fitted hyperparameter
    cells_bar: float | None = None
    # least rise in log evidence to add a step; null: the log of the number of candidates
    # (a prior that spreads one unit of probability over them)
    step_bar: float | None = None
    # more learned parameters than this: the stage is not used (logged); the GP is a prior
    # for a few weakly identified parameters, and a Newton step solves rank x learned
    # unknowns, the evidence fit subset x learned (at most 1,600: fewer sites with more
    # parameters)
    max_learned: int = 6
    # more training sites than this: skipped with a warning (the site kernel is sites x
    # sites and its eigendecomposition grows as sites^3: ~20 s at 5,000)
    max_sites: int = 5000


@dataclass
class WaterRelaxationConfig:
    """Smooth ``min(W w_scaling, 1)`` in early epochs, then exact (``training.polish``)."""

    sharpness_start: float | None = None  # None: off
    sharpness_end: float = 100.0
    fraction: float = 0.5  # of train.epochs


@dataclass
class TrainConfig:
    seed: int = 0
    epochs: int = 50
    batch_size: int = 32
    eval_batch_size: int = 1024
    patience: int = 10
    grad_clip: float | None = 10.0
    max_nonfinite_batches: int = 20
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    polish: PolishConfig = field(default_factory=PolishConfig)
    water_relaxation: WaterRelaxationConfig = field(default_factory=WaterRelaxationConfig)
    gp_prior: GPPriorConfig = field(default_factory=GPPriorConfig)
    progress: bool | str = "auto"  # auto | true | false (YAML reads on/off as booleans)
    # intra-op threads; batches of 32 sites gain nothing from more (use DDP for more
    # cores) and lose a lot when cores are shared. None: torch's default.
    num_threads: int | None = 1
    device: str = "cpu"  # cpu | cuda | auto
    ensemble: int = 1  # members stored in one run (soilbinn.training.ensemble); 1 = one model
    # with ensemble > 1: odd members use model.covariate_trend=true, even ones the config's
    # value, so the members average over two priors (soilbinn.training.ensemble)
    alternate_trend: bool = False


@dataclass
class Config:
    """The whole training configuration."""

    name: str = "binn"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: allowed values of string options (checked on load)
CHOICES: dict[str, tuple[str, ...]] = {
    "data.split": ("random", "spatial"),
    "model.kind": ("binn", "nn"),
    "model.preset": ("binn2025", "proda2023"),
    "model.transport": ("clm5", "simple", "simple2"),
    "model.solver": ("structured", "dense"),
    "model.bedrock": ("proda", "conservative"),
    "model.scaling": ("minmax", "zscore"),
    "model.activation": ("leaky_relu", "relu", "gelu", "tanh", "silu"),
    "loss.kind": ("smooth_l1", "mse", "l1", "log_mse", "nse"),
    "loss.depth_weighting": ("none", "thickness", "inverse_depth", "bins"),
    "train.scheduler.kind": ("none", "cosine", "step", "plateau"),
    "train.polish.method": ("lbfgs", "newton"),
    "train.polish.start": ("best", "last"),
    "train.polish.monitor_statistic": ("mean", "median"),
    "train.progress": ("auto", True, False),
    "model.covariate_trend": ("auto", True, False),
    "train.device": ("cpu", "cuda", "auto"),
}

#: (key path, test, message) range checks
RANGES: list[tuple[str, typing.Callable[[Any], bool], str]] = [
    ("data.val_fraction", lambda v: 0 <= v < 1, "must be in [0, 1)"),
    ("data.test_fraction", lambda v: 0 <= v < 1, "must be in [0, 1)"),
    ("model.hidden", lambda v: v >= 1, "must be >= 1"),
    ("model.depth", lambda v: v >= 0, "must be >= 0"),
    ("model.dropout", lambda v: 0 <= v < 1, "must be in [0, 1)"),
    ("model.embedding_dim", lambda v: v >= 1, "must be >= 1"),
    ("model.temperature.min", lambda v: v > 0, "must be > 0"),
    ("loss.stock_weight", lambda v: v >= 0, "must be >= 0"),
    ("loss.stock_weight_with_layers", lambda v: v >= 0, "must be >= 0"),
    ("loss.plausibility.weight", lambda v: v >= 0, "must be >= 0"),
    ("loss.plausibility.ceiling", lambda v: 0 < v <= 1000, "must be in (0, 1000] kg m-2"),
    ("loss.plausibility.anchors", lambda v: v >= 0, "must be >= 0"),
    ("train.epochs", lambda v: v >= 1, "must be >= 1"),
    ("train.batch_size", lambda v: v >= 2, "must be >= 2 (BatchNorm needs 2 sites)"),
    ("train.eval_batch_size", lambda v: v >= 1, "must be >= 1"),
    ("train.patience", lambda v: v >= 1, "must be >= 1"),
    ("train.optimizer.lr", lambda v: v > 0, "must be > 0"),
    ("train.max_nonfinite_batches", lambda v: v >= 0, "must be >= 0"),
    ("train.polish.iterations", lambda v: v >= 0, "must be >= 0"),
    ("train.polish.history_size", lambda v: v >= 1, "must be >= 1"),
    ("train.polish.inner_iterations", lambda v: v >= 1, "must be >= 1"),
    ("train.polish.damping", lambda v: v > 0, "must be > 0"),
    ("train.polish.weight_decay", lambda v: v >= 0, "must be >= 0"),
    ("train.polish.weight_decay_per_obs", lambda v: v >= 0, "must be >= 0"),
    ("train.gp_prior.iterations", lambda v: v >= 0, "must be >= 0"),
    ("train.gp_prior.chord_steps", lambda v: v >= 0, "must be >= 0"),
    ("train.gp_prior.tolerance", lambda v: v >= 0, "must be >= 0"),
    ("train.gp_prior.hyper_steps", lambda v: v >= 0, "must be >= 0"),
    ("train.gp_prior.hyper_steps_first", lambda v: v is None or v >= 0, "must be >= 0 or null"),
    ("train.gp_prior.rounds", lambda v: v >= 1, "must be >= 1"),
    ("train.gp_prior.select_after", lambda v: v is None or v >= 1, "must be >= 1 or null"),
    ("train.gp_prior.later_starts", lambda v: v in ("all", "chosen"), "must be all or chosen"),
    ("train.gp_prior.subset", lambda v: v >= 2, "must be >= 2"),
    ("train.gp_prior.evidence_blocks", lambda v: v >= 1, "must be >= 1"),
    ("train.gp_prior.draws", lambda v: v >= 1, "must be >= 1"),
    (
        "train.gp_prior.subset_sampling",
        lambda v: v in ("random", "stratified"),
        "must be random or stratified",
    ),
    ("train.gp_prior.strata", lambda v: v >= 1, "must be >= 1"),
    (
        "train.gp_prior.kernel",
        lambda v: v in ("shared", "per_parameter"),
        "must be shared or per_parameter",
    ),
    (
        "train.gp_prior.correlation",
        lambda v: v == "both" or bool(correlation_names(v)),
        "must be squared_exponential, matern52, additive, additive_exponential, a list of "
        "them or both",
    ),
    (
        "train.gp_prior.subset_draw",
        lambda v: v in ("fixed", "per_round"),
        "must be fixed or per_round",
    ),
    (
        "train.gp_prior.mean",
        lambda v: v in ("evidence", "modes", "start"),
        "must be evidence, modes or start",
    ),
    (
        "train.gp_prior.categories",
        lambda v: v in ("product", "additive", "both"),
        "must be product, additive or both",
    ),
    ("train.gp_prior.support", lambda v: v in ("dense", "sbl"), "must be dense or sbl"),
    ("train.gp_prior.support_precision", lambda v: v > 0, "must be > 0"),
    ("train.gp_prior.lengthscale", lambda v: v > 0, "must be > 0"),
    ("train.gp_prior.lengthscale_spread", lambda v: v is None or v > 0, "must be > 0 or null"),
    ("train.gp_prior.offset_variance", lambda v: v >= 0, "must be >= 0"),
    ("train.gp_prior.variance_scale", lambda v: v > 0, "must be > 0"),
    (
        "train.gp_prior.temper",
        lambda v: all(float(b) > 0 for b in v),
        "must be a list of factors > 0 (one per round, [] for none)",
    ),
    (
        "train.gp_prior.temper_paths",
        lambda v: v in ("tempered", "both"),
        "must be tempered or both",
    ),
    ("train.gp_prior.rank", lambda v: v >= 1, "must be >= 1"),
    ("train.gp_prior.steps", lambda v: v >= 0, "must be >= 0"),
    (
        "train.gp_prior.cells",
        lambda v: all(s > 0 for s in v) and len(set(v)) == len(v),
        "must be distinct cell sizes > 0 (degrees)",
    ),
    (
        "train.gp_prior.regions",
        lambda v: all(isinstance(r, str) and r for r in v) and len(set(v)) == len(v),
        "must be distinct names of categorical covariates",
    ),
    ("train.gp_prior.step_bar", lambda v: v is None or v >= 0, "must be >= 0 or null"),
    ("train.gp_prior.cells_bar", lambda v: v is None or v >= 0, "must be >= 0 or null"),
    ("train.gp_prior.rank_max", lambda v: v >= 1, "must be >= 1"),
    ("train.gp_prior.max_learned", lambda v: v >= 1, "must be >= 1"),
    ("train.gp_prior.max_sites", lambda v: v >= 2, "must be >= 2"),
    ("train.gp_prior.blend", lambda v: 0 < v <= 1, "must be in (0, 1]"),
    (
        "train.gp_prior.w_start",
        lambda v: v in ("network", "saturation", "both"),
        "must be network, saturation or both",
    ),
    (
        "train.gp_prior.w_margin",
        lambda v: len(v) >= 1 and all(0 < float(m) <= 1.5 for m in v) and len(set(v)) == len(v),
        "must be a non-empty list of distinct factors in (0, 1.5]",
    ),
    ("train.gp_prior.w_pattern", lambda v: v is None or 0 < v <= 1, "must be in (0, 1] or null"),
    (
        "train.gp_prior.w_probe",
        lambda v: all(0 < f < 1 for f in v),
        "must be factors in (0, 1) (an empty list: off)",
    ),
    ("train.gp_prior.w_probe_bar", lambda v: v >= 0, "must be >= 0"),
    ("train.water_relaxation.sharpness_start", lambda v: v is None or v > 0, "must be > 0"),
    ("train.water_relaxation.sharpness_end", lambda v: v > 0, "must be > 0"),
    ("train.water_relaxation.fraction", lambda v: 0 <= v <= 1, "must be in [0, 1]"),
    ("train.ensemble", lambda v: v >= 1, "must be >= 1"),
]


def _get(cfg: Any, path: str) -> Any:
    for part in path.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _type_ok(value: Any, tp: Any) -> tuple[bool, Any]:
    """Check (and lightly coerce: int -> float) ``value`` against annotation ``tp``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, v = _type_ok(value, arg)
            if ok:
                return True, v
        return False, value
    if tp is type(None):
        return value is None, value
    if tp is float:
        if isinstance(value, bool):
            return False, value
        if isinstance(value, (int, float)):
            return True, float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-2" as a string
            try:
                return True, float(value)
            except ValueError:
                return False, value
        return False, value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is str:
        return isinstance(value, str), value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            return False, value
        (arg,) = typing.get_args(tp)
        out = []
        for item in value:
            ok, v = _type_ok(item, arg)
            if not ok:
                return False, value
            out.append(v)
        return True, out
    if origin is dict:
        if not isinstance(value, dict):
            return False, value
        _, varg = typing.get_args(tp)
        out = {}
        for k, item in value.items():
            ok, v = _type_ok(item, varg)
            if not ok:
                return False, value
            out[str(k)] = v
        return True, out
    return False, value


#: options removed from the package: key -> (the value at which the option did nothing,
#: what replaces it). A saved run's config written with that value still loads (the key
#: is dropped); any other value is refused with the replacement named.
REMOVED = {
    "train.gp_prior.covariate_thresholds": (0, "train.gp_prior.steps"),
}


def _build(cls: type, data: Any, path: str, source: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {path or 'top level'} must be a mapping, got {data!r}")
    data = dict(data)
    for name in list(data):
        key = f"{path}.{name}" if path else str(name)
        if key in REMOVED:
            inert, instead = REMOVED[key]
            if data[name] != inert:
                raise ConfigError(f"{source}: {key} = {data[name]!r}: this option was removed "
                                  f"(use {instead} instead)")  # fmt: skip
            del data[name]
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        where = [f"{path}.{k}" if path else str(k) for k in unknown]
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(where)}; allowed under "
            f"{path or 'top level'}: {', '.join(sorted(known))}"
        )
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        key = f"{path}.{name}" if path else name
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, key, source)
            continue
        ok, v = _type_ok(value, tp)
        if not ok:
            raise ConfigError(f"{source}: {key} = {value!r} is not of type {tp}")
        kwargs[name] = v
    return cls(**kwargs)


def validate_config(cfg: Config, source: str = "config") -> Config:
    """Check choices and ranges; raise :class:`ConfigError` naming the key."""
    for key, allowed in CHOICES.items():
        v = _get(cfg, key)
        if v not in allowed:
            raise ConfigError(
                f"{source}: {key} = {v!r}; choose one of {', '.join(map(str, allowed))}"
            )
    for key, test, msg in RANGES:
        v = _get(cfg, key)
        if not test(v):
            raise ConfigError(f"{source}: {key} = {v!r} {msg}")
    if cfg.data.val_fraction + cfg.data.test_fraction >= 1:
        raise ConfigError(f"{source}: data.val_fraction + data.test_fraction must be < 1")
    if cfg.train.gp_prior.kernel == "per_parameter" and cfg.train.gp_prior.correlated:
        raise ConfigError(f"{source}: train.gp_prior.kernel = per_parameter needs "
                          "train.gp_prior.correlated = false (the parameters are a priori "
                          "independent)")  # fmt: skip
    if cfg.train.gp_prior.steps > 0 and cfg.train.gp_prior.kernel != "per_parameter":
        raise ConfigError(f"{source}: train.gp_prior.steps > 0 needs "
                          "train.gp_prior.kernel = per_parameter (a step per parameter)")  # fmt: skip
    if cfg.train.gp_prior.cells and not cfg.data.use_lonlat:
        raise ConfigError(f"{source}: train.gp_prior.cells needs data.use_lonlat = true (the "
                          "cells are read from the sites' lon/lat); without lon/lat set "
                          "train.gp_prior.cells=[]")  # fmt: skip
    if cfg.train.gp_prior.cells and cfg.train.gp_prior.kernel != "per_parameter":
        raise ConfigError(f"{source}: train.gp_prior.cells needs "
                          "train.gp_prior.kernel = per_parameter (an offset variance per "
                          "parameter); with another kernel set train.gp_prior.cells=[]")  # fmt: skip
    if cfg.train.gp_prior.regions and cfg.train.gp_prior.kernel != "per_parameter":
        raise ConfigError(f"{source}: train.gp_prior.regions needs "
                          "train.gp_prior.kernel = per_parameter (an offset variance per "
                          "parameter); with another kernel set train.gp_prior.regions=[]")  # fmt: skip
    if cfg.train.gp_prior.regions and (cfg.train.gp_prior.iterations == 0
                                       or cfg.model.kind != "binn"):  # fmt: skip
        raise ConfigError(f"{source}: train.gp_prior.regions needs the GP stage "
                          "(model.kind = binn, train.gp_prior.iterations > 0): the network "
                          "does not read the regions")  # fmt: skip
    both = sorted(set(cfg.train.gp_prior.regions) & set(cfg.data.categorical or []))
    if both:
        raise ConfigError(f"{source}: {', '.join(both)} in both data.categorical (the "
                          "network's inputs) and train.gp_prior.regions (the GP stage's "
                          "regions, which the network does not read); name each in one")  # fmt: skip
    if cfg.train.gp_prior.offset_variance > 0 and cfg.train.gp_prior.kernel != "per_parameter":
        raise ConfigError(f"{source}: train.gp_prior.offset_variance > 0 needs "
                          "train.gp_prior.kernel = per_parameter (an offset per parameter)")  # fmt: skip
    if cfg.train.gp_prior.offset_fit and not cfg.train.gp_prior.offset_variance > 0:
        raise ConfigError(f"{source}: train.gp_prior.offset_fit needs "
                          "train.gp_prior.offset_variance > 0 (the fitted variances' start)")  # fmt: skip
    gp = cfg.train.gp_prior
    n_tempered = min(len(gp.temper), gp.rounds - 1)
    if gp.temper_paths == "both" and gp.select_after is not None and gp.select_after <= n_tempered:
        raise ConfigError(f"{source}: train.gp_prior.select_after = {gp.select_after} with "
                          f"temper_paths = both must exceed the {n_tempered} tempered round(s) "
                          "(the tempered path has no evidence before)")  # fmt: skip
    if gp.start_paths and (
        gp.temper_paths != "both" or gp.w_start != "saturation"
        or len(gp.start_paths) != len(gp.w_margin) or gp.later_starts == "chosen"
        or not all(v in ("both", "tempered", "untempered") for v in gp.start_paths)
    ):  # fmt: skip
        raise ConfigError(f"{source}: train.gp_prior.start_paths = {gp.start_paths!r} must "
                          "give one of both, tempered or untempered per w_margin entry, "
                          "with temper_paths = both, w_start = saturation and later_starts = "
                          "all; [] runs both paths from every start")  # fmt: skip
    if gp.w_probe and gp.select_after is None:
        raise ConfigError(f"{source}: train.gp_prior.w_probe needs train.gp_prior."
                          "select_after (the probe is made when the phase that goes on is "
                          "chosen); set train.gp_prior.w_probe=[] to turn it off")  # fmt: skip
    if gp.w_pattern is not None and gp.select_after is None:
        raise ConfigError(f"{source}: train.gp_prior.w_pattern needs train.gp_prior."
                          "select_after (the pattern is read when the phase that goes on is "
                          "chosen); set train.gp_prior.w_pattern=null to turn it off")  # fmt: skip
    t = cfg.model.temperature
    if not t.min <= t.init <= t.max:
        raise ConfigError(f"{source}: model.temperature.init must lie in [min, max]")
    if cfg.loss.plausibility.anchors > 0 and cfg.loss.plausibility.weight == 0:
        raise ConfigError(f"{source}: loss.plausibility.anchors = "
                          f"{cfg.loss.plausibility.anchors} needs loss.plausibility.weight > 0")  # fmt: skip
    for k, v in cfg.model.fixed.items():
        if not 0 <= v <= 1:
            raise ConfigError(f"{source}: model.fixed.{k} = {v} is not on the unit scale [0, 1]")
    return cfg


def correlation_names(value: str | list[str]) -> list[str]:
    """The correlation functions ``train.gp_prior.correlation`` names, in order (``both``:
    the squared exponential and the Matern 5/2); empty when any name is unknown or repeated."""
    names = ["squared_exponential", "matern52"] if value == "both" else value
    names = [names] if isinstance(names, str) else list(names)
    known = {"squared_exponential", "matern52", "additive", "additive_exponential",
             "squared_exponential+additive"}  # fmt: skip
    ok = names and all(n in known for n in names) and len(set(names)) == len(names)
    return names if ok else []


def uses_covariate_trend(cfg: Config, n_learned: int) -> bool:
    """Whether the parameter network carries the covariate trend (``model.covariate_trend``,
    ``auto`` resolved for ``n_learned`` learned parameters)."""
    trend = cfg.model.covariate_trend
    if trend == "auto":
        gp = cfg.train.gp_prior
        return gp.iterations > 0 and n_learned <= gp.max_learned
    return bool(trend)


def parse_overrides(overrides: list[str] | None) -> dict[str, Any]:
    """Turn ``["train.epochs=3", "model.learned=[q10, beta]"]`` into a nested dict."""
    nested: dict[str, Any] = {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.path=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw.strip() else None
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with another override")
        node[parts[-1]] = value
    return nested


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        if (
            isinstance(v, dict)
            and isinstance(out.get(k), dict)
            and k not in ("fixed", "fixed_physical")
        ):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def packaged_config_path(name: str) -> Path:
    """Path of a packaged config (``binn_paper``, ``demo``, ...)."""
    return Path(str(resources.files("soilbinn") / "configs" / f"{name}.yaml"))


def packaged_config_names() -> list[str]:
    """Names of the configs shipped in ``soilbinn/configs`` (sorted)."""
    folder = resources.files("soilbinn") / "configs"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def config_from_dict(data: dict, source: str = "config") -> Config:
    return validate_config(_build(Config, data, "", source), source)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config strictly; ``path=None`` gives the paper defaults.

    Parameters
    ----------
    path : str or Path, optional
        YAML file, or the name of a packaged config (``binn_paper``, ``demo``).
    overrides : list of str, optional
        ``key.path=value`` strings applied after the file (values parsed as YAML).
    """
    data: dict = {}
    source = "defaults"
    if path is not None:
        p = Path(path)
        if not p.exists() and not p.suffix:
            p = packaged_config_path(str(path))
        if not p.exists():
            raise ConfigError(f"config file {path} not found (packaged configs: "
                              f"{', '.join(packaged_config_names())})")  # fmt: skip
        source = str(p)
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: top level must be a mapping")
    if overrides:
        data = _merge(data, parse_overrides(overrides))
        source += " + overrides"
    return config_from_dict(data, source)


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
