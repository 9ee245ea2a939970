"""The parts the dashboard's pages are drawn from: ``parts/<page>/`` for one page, ``parts/shared/`` for several.

Each page in ``dashboard/views/`` stays short and reads top to bottom; its sections live here. Parts only draw:
real work (training, metrics, images) lives in ``lightning_module``.
"""
