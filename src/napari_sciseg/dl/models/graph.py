"""Random directed acyclic graphs for sparse mixed-scale networks (pure numpy).

A graph has node 0 = the input, nodes 1..d = hidden nodes and node d + 1 = the
output. It is a list of edges ``(source, target, dilation)`` with
``source < target``; edges into the output are 1x1 (dilation 0 marks them).
Both SMSNet (random graph) and MSDNet (dense graph) are built on it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["random_smsnet_graph", "dense_msdnet_graph", "receptive_radius", "check_graph",
           "node_dilation_list", "balanced_node_dilations"]


def _draw_out_degree(rng: np.random.Generator, low: int, high: int, gamma: float) -> int:
    """Draw n in [low, high] with probability proportional to exp(-gamma n)."""
    if high <= low:
        return int(low)
    n = np.arange(low, high + 1)
    p = np.exp(-gamma * n)
    return int(rng.choice(n, p=p / p.sum()))


def random_smsnet_graph(
    depth: int,
    *,
    seed: int,
    k_min: int = 1,
    k_max: int = 5,
    gamma: float | None = None,
    alpha: float | None = None,
    p_il: float = 1.0,
    p_lo: float = 1.0,
    p_io: bool = True,
    dilations: tuple[int, ...] = (1, 2, 4, 8),
    node_dilations: list[int] | None = None,
) -> dict:
    """Draw the random graph of one SMSNet (DLSIA's hyperparameters).

    Hidden node j draws its number of out-edges n_j in
    [min(k_min, d - j), min(k_max, d - j)] with density proportional to
    exp(-gamma n_j) and picks the targets among later hidden nodes with
    probability proportional to exp(-alpha |i - j|). The input feeds each hidden
    node with probability ``p_il``, each hidden node feeds the output with
    probability ``p_lo``; nodes left without input are fed by the input and
    nodes without output feed the output, so every node lies on a path from
    input to output. Dilations are drawn uniformly from ``dilations``.

    Parameters
    ----------
    depth : int
        Number of hidden nodes d (DLSIA default 20).
    seed : int
        Seed of the draw; the same seed gives the same graph.
    gamma, alpha : float, optional
        Degree and skip parameters; ``None`` draws them per network from
        U(0, 0.5) and U(0.75, 1) (DLSIA defaults).
    node_dilations : list of int, optional
        One dilation per hidden node for all edges into it (instead of one random
        dilation per edge). Members of an ensemble sharing these run as a single
        gather-free grouped convolution per node during training.

    Returns
    -------
    dict
        ``{"depth", "edges": [[src, dst, dilation], ...], "gamma", "alpha"}``,
        JSON-able.

    Examples
    --------
    >>> g = random_smsnet_graph(4, seed=0)
    >>> sorted({e[1] for e in g["edges"]}) == [1, 2, 3, 4, 5]
    True
    """
    _check_graph_args(depth, k_min, k_max, dilations, node_dilations)
    rng = np.random.default_rng(seed)
    gamma = float(rng.uniform(0.0, 0.5)) if gamma is None else float(gamma)
    alpha = float(rng.uniform(0.75, 1.0)) if alpha is None else float(alpha)
    pairs = _hidden_pairs(rng, depth, k_min, k_max, gamma, alpha)
    _connect_ends(rng, pairs, depth, p_il, p_lo, p_io)
    out = depth + 1
    edges = []
    for s, t in sorted(pairs):
        if t == out:
            dil = 0
        elif node_dilations is not None:
            dil = int(node_dilations[t - 1])
        else:
            dil = int(dilations[rng.integers(len(dilations))])
        edges.append([s, t, dil])
    return {"depth": int(depth), "edges": edges, "gamma": gamma, "alpha": alpha}


def _check_graph_args(depth, k_min, k_max, dilations, node_dilations) -> None:
    if depth < 1:
        raise ValueError(f"SMSNet depth must be at least 1 hidden node; got {depth}.")
    if not 1 <= k_min <= k_max:
        raise ValueError(f"need 1 <= k_min <= k_max; got k_min={k_min}, k_max={k_max}.")
    if not dilations or any(int(d) < 1 for d in dilations):
        raise ValueError(f"dilations must be positive integers; got {dilations}.")
    if node_dilations is not None and len(node_dilations) != depth:
        raise ValueError(f"node_dilations needs {depth} values (one per hidden node); "
                         f"got {len(node_dilations)}.")


def _hidden_pairs(rng, depth, k_min, k_max, gamma, alpha) -> set[tuple[int, int]]:
    """Edges between hidden nodes: n_j out-edges of node j to later nodes."""
    pairs: set[tuple[int, int]] = set()
    for j in range(1, depth):
        later = depth - j
        n = _draw_out_degree(rng, min(k_min, later), min(k_max, later), gamma)
        targets = np.arange(j + 1, depth + 1)
        p = np.exp(-alpha * (targets - j).astype(float))
        for t in rng.choice(targets, size=n, replace=False, p=p / p.sum()):
            pairs.add((j, int(t)))
    return pairs


def _connect_ends(rng, pairs, depth, p_il, p_lo, p_io) -> None:
    """Input -> hidden and hidden -> output edges; every node on an input-output path."""
    out = depth + 1
    for j in range(1, depth + 1):
        if rng.random() < p_il:
            pairs.add((0, j))
        if rng.random() < p_lo:
            pairs.add((j, out))
    for j in range(1, depth + 1):
        if not any(t == j for _, t in pairs):
            pairs.add((0, j))
        if not any(s == j for s, _ in pairs):
            pairs.add((j, out))
    if p_io:
        pairs.add((0, out))


def dense_msdnet_graph(depth: int, dilations: list[int]) -> dict:
    """The graph of an MSDNet: node j reads the input and every earlier node.

    Layer j uses ``dilations[j - 1]``; the output reads the input and all layers.

    Examples
    --------
    >>> len(dense_msdnet_graph(3, [1, 2, 3])["edges"])  # 1 + 2 + 3 into layers, 4 into output
    10
    """
    if depth < 1 or len(dilations) != depth:
        raise ValueError(f"need one dilation per layer ({depth}); got {len(dilations)}.")
    out = depth + 1
    edges = [[s, j, int(dilations[j - 1])] for j in range(1, depth + 1) for s in range(j)]
    edges += [[s, out, 0] for s in range(out)]
    return {"depth": int(depth), "edges": edges}


def check_graph(graph: dict) -> tuple[int, list[tuple[int, int, int]]]:
    """Validate a graph dict; return ``(depth, edges)``."""
    try:
        depth = int(graph["depth"])
        edges = [(int(s), int(t), int(d)) for s, t, d in graph["edges"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"invalid network graph {graph!r}: {exc}") from None
    out = depth + 1
    for s, t, d in edges:
        if not (0 <= s < t <= out) or s == out or (t == out) != (d == 0) or d < 0:
            raise ValueError(f"invalid edge {(s, t, d)} in a graph of depth {depth}.")
    for j in range(1, out + 1):
        if not any(t == j for _, t, _ in edges):
            raise ValueError(f"node {j} of the network graph has no input edge.")
    return depth, edges


def receptive_radius(graph: dict, kernel_size: int = 3) -> int:
    """Halo radius in pixels: the largest sum of ``dilation * (k // 2)`` along a path.

    Examples
    --------
    >>> receptive_radius({"depth": 2, "edges": [[0, 1, 2], [1, 2, 4], [2, 3, 0]]})
    6
    """
    depth, edges = check_graph(graph)
    radius = np.zeros(depth + 2, dtype=int)
    for s, t, d in sorted(edges, key=lambda e: e[1]):
        radius[t] = max(radius[t], radius[s] + d * (kernel_size // 2))
    return int(radius[depth + 1])


def balanced_node_dilations(depth: int, dilations, *, seed: int) -> list[int]:
    """One dilation per hidden node, every choice used equally often, in random order.

    Drawing each node's dilation independently can give a whole ensemble only
    small dilations (e.g. ``[4, 1, 1, 1, 1]`` from ``(1, 2, 3, 4)``), hence a
    small receptive field; here each of the ``dilations`` is used
    ``depth // len(dilations)`` times, the remaining nodes draw distinct
    choices, and the order is shuffled.

    >>> sorted(balanced_node_dilations(5, (1, 2, 3, 4), seed=3))[:4]
    [1, 2, 3, 4]
    >>> balanced_node_dilations(6, (1, 2, 4), seed=0) == balanced_node_dilations(
    ...     6, (1, 2, 4), seed=0)
    True
    """
    rng = np.random.default_rng(seed)
    choices = [int(d) for d in dilations]
    if not choices or min(choices) < 1:
        raise ValueError(f"dilations must be positive integers; got {tuple(dilations)!r}.")
    full, rest = divmod(int(depth), len(choices))
    drawn = choices * full + [int(d) for d in rng.choice(choices, size=rest, replace=False)]
    return [int(d) for d in rng.permutation(drawn)]


def node_dilation_list(graph: dict) -> list[int] | None:
    """The dilation of each hidden node if all its in-edges share one, else None.

    >>> node_dilation_list({"depth": 2, "edges": [[0, 1, 2], [0, 2, 4], [1, 2, 4], [2, 3, 0]]})
    [2, 4]
    """
    depth, edges = check_graph(graph)
    out = []
    for j in range(1, depth + 1):
        dils = {d for _, t, d in edges if t == j}
        if len(dils) != 1:
            return None
        out.append(dils.pop())
    return out
