# ASE ships py.typed but most of its API is unannotated; its calls return Any.
# mypy: disable-error-code="no-untyped-call"
"""Candidate generators: each a small, seeded function from a structure to new structures.

Every generator is deterministic under its ``seed`` (one ``numpy.random.Generator``
per call) and tags what it made in ``info["config_type"]`` (the generator's name) so
datasets can be split and weighted by origin. Cells that DFT labels keep the k-grid of
their unstrained parent in ``info["kpoint_cell"]``. All work is done with ASE; real SQS
generation (icet, pymatgen's ``SQSTransformation`` with mcsqs) is not available on these
machines, so :func:`random_alloy_cells` keeps the best of K random decorations by
pair-correlation mismatch ("SQS-like").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.build import surface
from ase.calculators.calculator import Calculator
from ase.data import atomic_masses, atomic_numbers, covalent_radii
from ase.neighborlist import neighbor_list

from pyacemaker.data import CONFIG_TYPE_KEY

# Einstein frequency of the rattle model (T -> sigma) when none is given, THz (typical of
# metals; :func:`einstein_frequency_thz` estimates one per material).
EINSTEIN_THZ = 5.0
LINDEMANN = 0.1  # RMS displacement at melting / nearest-neighbour distance (Lindemann)
MIN_DISTANCE_FACTOR = 0.6  # of the sum of covalent radii: closer pairs are unphysical
_VOID_TRIALS = 400  # random points tried when looking for the largest void


def _tag(atoms: Atoms, name: str, index: int, seed: int, parent: Atoms) -> Atoms:
    """Record origin and the parent's k-grid cell on a generated structure."""
    atoms.info.update({CONFIG_TYPE_KEY: name, "candidate_index": index, "seed": seed})
    atoms.info["kpoint_cell"] = parent.cell.array.ravel()
    return atoms


def min_distance(atoms: Atoms, cutoff: float = 6.0) -> float:
    """Shortest interatomic distance up to ``cutoff`` Å, periodic images included; else inf."""
    d = neighbor_list("d", atoms, cutoff)
    return float(d.min()) if len(d) else float("inf")


def min_distance_ratio(atoms: Atoms) -> float:
    """Smallest pair distance divided by the pair's sum of covalent radii."""
    if len(atoms) < 2:
        return float("inf")
    d = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
    r = covalent_radii[atoms.numbers]
    ratio = d / (r[:, None] + r[None, :])
    return float(ratio[np.triu_indices(len(atoms), 1)].min())


# --------------------------------------------------------------------- strain and rattle


def shear_strain(rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """A traceless symmetric strain (volume-conserving to first order), components ≤ amplitude."""
    e = rng.uniform(-amplitude, amplitude, size=(3, 3))
    e = 0.5 * (e + e.T)
    traceless: np.ndarray = e - np.trace(e) / 3 * np.eye(3)
    return traceless


def stratified(rng: np.random.Generator, n: int, amplitude: float) -> np.ndarray:
    """``n`` values in ±amplitude, one uniform draw per equal-width stratum, shuffled."""
    edges = -amplitude + 2 * amplitude * (np.arange(n) + rng.uniform(size=n)) / max(n, 1)
    return np.asarray(rng.permutation(edges))


def strain_cells(
    cells: Sequence[Atoms], n: int, *, volumetric: float, shear: float, seed: int
) -> list[Atoms]:
    """``n`` strained copies cycling over ``cells``: even ones volumetric, odd ones shear.

    Volumetric: isotropic linear strain in ±``volumetric``, stratified so both compression
    and expansion are always covered (plain uniform draws left one side empty in a
    mini quickstart, and the E-V curve with it); shear: traceless.
    Separating the two gives the fit both the equation of state and the elastic shear
    response instead of blurring them into one random tensor.
    """
    rng = np.random.default_rng(seed)
    volumetric_strains = stratified(rng, (n + 1) // 2, volumetric)
    out = []
    for i in range(n):
        parent = cells[i % len(cells)]
        atoms = parent.copy()
        if i % 2 == 0:
            deformation = (1 + volumetric_strains[i // 2]) * np.eye(3)
        else:
            deformation = np.eye(3) + shear_strain(rng, shear)
        atoms.set_cell(atoms.cell.array @ deformation, scale_atoms=True)
        out.append(_tag(atoms, "strain", i, seed, parent))
    return out


def thermal_sigma(symbols: Sequence[str], temperature_K: float, nu_thz: float) -> np.ndarray:
    """Per-atom Cartesian displacement width (Å) of an Einstein solid at temperature T.

    Classical equipartition for a harmonic oscillator: ``m ω² <u_x²> = k_B T``, so
    ``σ = sqrt(k_B T / m) / (2π ν)``. Cu at 300 K with ν = 5 THz gives 0.063 Å (measured
    RMS displacement of Cu at 300 K: about 0.08 Å).
    """
    mass = np.array([atomic_masses[atomic_numbers[s]] for s in symbols])  # amu
    omega = 2 * np.pi * nu_thz * 1e12 / units.s  # rad per ASE time unit
    return np.sqrt(units.kB * temperature_K / mass) / omega


def einstein_frequency_thz(atoms: Atoms, melting_point: float) -> float:
    """Einstein frequency (THz) that puts the RMS displacement at the Lindemann value at T_m.

    Lindemann: atoms melt when their 3-D RMS displacement reaches about 10 % of the
    nearest-neighbour distance d, so the per-axis σ(T_m) = 0.1 d / √3 and, with the
    mean mass m, ``ω = sqrt(k_B T_m / m) / σ(T_m)``. Cu gives 4.6 THz, Si 8.3 THz.
    """
    sigma_m = LINDEMANN * min_distance(atoms) / np.sqrt(3)
    mass = float(np.mean(atoms.get_masses()))
    omega = np.sqrt(units.kB * melting_point / mass) / sigma_m  # rad per ASE time unit
    return float(omega * units.s / (2 * np.pi * 1e12))


def rattle_cells(
    cells: Sequence[Atoms], n: int, *, temperatures: Sequence[float], seed: int,
    nu_thz: float = EINSTEIN_THZ,
) -> list[Atoms]:  # fmt: skip
    """``n`` copies with Gaussian displacements of thermal width, cycling cells and temperatures.

    The amplitude follows :func:`thermal_sigma` (heavier atoms move less), so a user
    thinks in kelvin rather than in Å; the temperature is kept in ``info["temperature_K"]``.
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        parent = cells[i % len(cells)]
        temp = float(temperatures[i % len(temperatures)])
        atoms = parent.copy()
        sigma = thermal_sigma(atoms.get_chemical_symbols(), temp, nu_thz)
        atoms.positions += rng.normal(size=(len(atoms), 3)) * sigma[:, None]
        atoms.info["temperature_K"] = temp
        out.append(_tag(atoms, "rattle", i, seed, parent))
    return out


# ------------------------------------------------------------------------ point defects


def _jiggle(atoms: Atoms, rng: np.random.Generator, sigma: float) -> Atoms:
    """Small random displacements so equivalent defects still differ as training data."""
    atoms.positions += rng.normal(0.0, sigma, size=atoms.positions.shape)
    return atoms


def vacancy_cells(supercell: Atoms, n: int, *, seed: int, rattle: float = 0.03) -> list[Atoms]:
    """``n`` copies of ``supercell`` with one random atom removed, lightly rattled."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        atoms = supercell.copy()
        site = int(rng.integers(len(atoms)))
        atoms.info["defect"] = f"vacancy {atoms[site].symbol}{site}"
        del atoms[site]
        out.append(_tag(_jiggle(atoms, rng, rattle), "vacancy", i, seed, supercell))
    return out


def largest_void(atoms: Atoms, rng: np.random.Generator, trials: int = _VOID_TRIALS) -> np.ndarray:
    """Cartesian point (of ``trials`` random ones) farthest from every atom (minimum image)."""
    points = rng.uniform(size=(trials, 3)) @ atoms.cell.array
    probe = atoms.copy()
    best, best_d = points[0], -1.0
    for p in points:
        probe.append("X")
        probe.positions[-1] = p
        d = float(probe.get_distances(len(probe) - 1, range(len(atoms)), mic=True).min())
        del probe[-1]
        if d > best_d:
            best, best_d = p, d
    return np.asarray(best)


def interstitial_cells(
    supercell: Atoms, n: int, *, seed: int, species: Sequence[str] | None = None,
    rattle: float = 0.03,
) -> list[Atoms]:  # fmt: skip
    """``n`` copies of ``supercell`` with one extra atom in the largest void found.

    The species cycles over ``species`` (default: the elements of the cell).
    """
    rng = np.random.default_rng(seed)
    kinds = list(species or sorted(set(supercell.get_chemical_symbols())))
    out = []
    for i in range(n):
        atoms = supercell.copy()
        symbol = kinds[i % len(kinds)]
        atoms.append(symbol)
        atoms.positions[-1] = largest_void(supercell, rng)
        atoms.info["defect"] = f"interstitial {symbol}"
        out.append(_tag(_jiggle(atoms, rng, rattle), "interstitial", i, seed, supercell))
    return out


def antisite_cells(supercell: Atoms, n: int, *, seed: int, rattle: float = 0.03) -> list[Atoms]:
    """``n`` copies with one pair of unlike atoms swapped (compounds only; composition kept)."""
    symbols = np.array(supercell.get_chemical_symbols())
    if len(set(symbols)) < 2:
        raise ValueError("antisite defects need at least two elements")
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        atoms = supercell.copy()
        a = int(rng.integers(len(atoms)))
        b = int(rng.choice(np.flatnonzero(symbols != symbols[a])))
        numbers = atoms.numbers.copy()
        numbers[[a, b]] = numbers[[b, a]]
        atoms.numbers = numbers
        atoms.info["defect"] = f"antisite {symbols[a]}{a}<->{symbols[b]}{b}"
        out.append(_tag(_jiggle(atoms, rng, rattle), "antisite", i, seed, supercell))
    return out


# ----------------------------------------------------------------------------- surfaces


def slab_cells(
    prototype: Atoms,
    millers: Sequence[tuple[int, int, int]],
    *,
    layers: int = 3,
    vacuum: float = 6.0,
) -> list[Atoms]:
    """One slab per Miller index: ``layers`` layers with ``vacuum`` Å on each side along c.

    Periodic in all three directions (what plane-wave DFT needs); the vacuum separates
    the periodic images of the slab. ``info["miller"]`` and ``info["vacuum"]`` record it.
    """
    out = []
    for i, hkl in enumerate(millers):
        atoms = surface(prototype, hkl, layers, vacuum=vacuum)
        atoms.pbc = True
        atoms.info.update(miller=list(hkl), vacuum=vacuum)
        out.append(_tag(atoms, "surface", i, 0, atoms))
    return out


# ------------------------------------------------------------------- alloys (SQS-like)


def exact_counts(composition: dict[str, float], n_sites: int) -> dict[str, int]:
    """Integer atom counts for ``n_sites`` matching the fractions; error if not exact."""
    total = sum(composition.values())
    counts = {el: round(frac / total * n_sites) for el, frac in composition.items()}
    off = [el for el, c in counts.items() if abs(c - composition[el] / total * n_sites) > 1e-6]
    if off or sum(counts.values()) != n_sites:
        raise ValueError(
            f"composition {composition} cannot be realised exactly on {n_sites} sites "
            f"(elements {off or list(counts)}); use a supercell whose size is a multiple "
            "of the formula's denominator"
        )
    return counts


def pair_correlation(atoms: Atoms, shells: Sequence[float]) -> np.ndarray:
    """Fraction of unlike neighbour pairs in each shell (cutoffs in Å, ascending)."""
    out = []
    lower = 0.0
    for cut in shells:
        i, j, d = neighbor_list("ijd", atoms, cut)
        in_shell = d > lower
        unlike = atoms.numbers[i[in_shell]] != atoms.numbers[j[in_shell]]
        out.append(float(unlike.mean()) if unlike.size else 0.0)
        lower = cut
    return np.array(out)


def neighbour_shells(atoms: Atoms, n_shells: int = 2, tol: float = 0.1) -> list[float]:
    """Cutoffs (Å) just beyond each of the first ``n_shells`` neighbour distances."""
    d = np.sort(neighbor_list("d", atoms, 2.5 * min_distance(atoms)))
    shells: list[float] = []
    for value in d:
        if not shells or value > shells[-1] + tol:
            shells.append(float(value) + tol / 2)
        if len(shells) == n_shells:
            break
    return shells


def random_alloy_cells(
    supercell: Atoms, composition: dict[str, float], n: int, *, seed: int, trials: int = 20
) -> list[Atoms]:
    """``n`` random decorations of ``supercell``'s sites with exactly ``composition``.

    Each is the best of ``trials`` random decorations by squared mismatch of the
    unlike-pair fraction in the first two neighbour shells against the ideal random
    alloy, ``1 - Σ c_i²`` (the SQS idea, by sampling rather than by optimisation).
    ``info["sqs_mismatch"]`` keeps the achieved mismatch.
    """
    counts = exact_counts(composition, len(supercell))
    fractions = np.array(list(counts.values())) / len(supercell)
    target = 1.0 - float(np.sum(fractions**2))
    shells = neighbour_shells(supercell)
    base = np.repeat([atomic_numbers[el] for el in counts], list(counts.values()))
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        best: tuple[float, Atoms] | None = None
        for _ in range(trials):
            atoms = supercell.copy()
            atoms.numbers = rng.permutation(base)
            mismatch = float(np.sum((pair_correlation(atoms, shells) - target) ** 2))
            if best is None or mismatch < best[0]:
                best = (mismatch, atoms)
        assert best is not None
        best[1].info["sqs_mismatch"] = best[0]
        out.append(_tag(best[1], "random_alloy", i, seed, supercell))
    return out


# ------------------------------------------------------------ model-driven generators


def normal_mode_cells(
    molecule: Atoms, calc: Calculator, n: int, *, temperature_K: float, seed: int,
    workdir: str | Path,
) -> list[Atoms]:  # fmt: skip
    """``n`` molecules displaced along their normal modes with classical thermal amplitudes.

    Modes come from ASE :class:`~ase.vibrations.Vibrations` (finite differences with
    ``calc``, any ASE calculator, usually the teacher or a foundation model). Each
    vibrational mode k (ħω_k above 1 meV; translations and rotations are skipped) gets
    a Gaussian mass-weighted amplitude of variance ``k_B T / ω_k²``, the harmonic
    Boltzmann distribution, so soft modes move more than stiff ones.
    """
    from ase.vibrations import Vibrations  # imports matplotlib: only when sampling modes

    work = molecule.copy()
    work.calc = calc
    vib = Vibrations(work, name=str(Path(workdir) / "vib"))
    vib.clean()
    vib.run()
    energies, modes = vib.get_vibrations().get_energies_and_modes(all_atoms=True)
    vib.clean()
    keep = np.abs(energies.imag) < 1e-9
    keep &= energies.real > 1e-3
    sqrt_m = np.sqrt(molecule.get_masses())[:, None]
    omegas = energies[keep].real / (units._hbar * units.J * units.s)  # 1 / ASE time unit
    eigvecs = [m * sqrt_m / np.linalg.norm(m * sqrt_m) for m in modes[keep]]  # mass-weighted
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        atoms = molecule.copy()
        for omega, vec in zip(omegas, eigvecs, strict=True):
            q = rng.normal() * np.sqrt(units.kB * temperature_K) / omega  # <q²> = kT/ω²
            atoms.positions += q * vec / sqrt_m
        atoms.info["temperature_K"] = temperature_K
        out.append(_tag(atoms, "normal_modes", i, seed, molecule))
    return out


def melt_quench(
    start: Atoms,
    calc: Calculator,
    sample: Callable[..., list[Atoms]],
    *,
    t_melt: float,
    t_final: float,
    steps: int,
    interval: int,
    seed: int,
) -> list[Atoms]:
    """Snapshots of a melt (``steps`` at ``t_melt``) then a quench (``steps`` at ``t_final``).

    ``sample`` is the MD sampler (:func:`pyacemaker.dynamics.ase_md.sample_md`); the
    quench starts from the last molten frame, so the snapshots run from liquid to
    disordered solid: environments MD at the pool temperatures never visits.
    """
    molten = sample(start, calc, temperature_K=t_melt, steps=steps, interval=interval, seed=seed)
    quenched = sample(
        molten[-1], calc, temperature_K=t_final, steps=steps, interval=interval, seed=seed + 1
    )
    frames = [*molten, *quenched]
    for k, atoms in enumerate(frames):
        _tag(atoms, "melt_quench", k, seed, start)
    return frames
