"""Self-supervised objectives: one per file, each a pure function plus an nn.Module wrapper.

| file | objective | paper |
|---|---|---|
| nt_xent.py | NT-Xent (SimCLR) | Chen et al. 2020 |
| barlow_twins.py | Barlow Twins | Zbontar et al. 2021 |
| vicreg.py | VICReg | Bardes et al. 2022 |
| negative_cosine.py | BYOL / SimSiam negative cosine | Grill et al. 2020; Chen and He 2021 |
| directpred.py | DirectPred predictor + loss | Tian et al. 2021 |
| dino.py | DINO self-distillation | Caron et al. 2021 |
| tera.py | TERA L1 reconstruction | Liu et al. 2021 |
| tjepa.py | T-JEPA latent prediction | Thimonier et al. 2024 |
| triplet.py | triplet (terrain pipeline) | Zurn et al. 2021 |
| multiview_contrastive.py | ColloSSL weighted multi-view contrastive | Jain et al. 2022 |
| collossl.py | ColloSSL objective (MMD device selection + weighted multi-view contrastive), SimCLR and multi-task baselines | Jain et al. 2022; Saeed et al. 2019 |
| device_selection.py | ColloSSL multi-kernel MMD device selection (used by collossl.py) | Jain et al. 2022 |
| groco.py | GroCo group ordering loss (relaxed odd-even sorting network) | Shvetsova et al. 2023 |
| sie.py | SIE split invariant-equivariant loss | Garrido et al. 2023 |
| mugs.py | Mugs instance / local-group InfoNCE with queues + group clustering | Zhou et al. 2022 |
| cluster_dino.py | cluster-aware DINO's dynamic loss-gate + label correction | Han et al. 2022, 2023 |
| scatsimclr.py | ScatSimCLR: NT-Xent + pretext-task cross-entropy | Kinakh et al. 2021 |
| masked_image.py | masked patch reconstruction for CNNs (SparK-style) | Tian et al. 2023 |
| halp.py | MoCo InfoNCE + HaLP hallucinated positives | He et al. 2020; Shah et al. 2023 |

Batch Styles Standardization is a view transform, in robossl/methods/bss.py (with SimCLR's loss).
"""
