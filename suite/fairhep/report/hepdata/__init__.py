"""Result tables as HEPData submissions: written (:mod:`~fairhep.report.hepdata.write`) and
read back (:mod:`~fairhep.report.hepdata.read`) to set other platforms' tables beside ours."""
