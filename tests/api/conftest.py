# SPDX-License-Identifier: Apache-2.0
from apifixtures import api, petrel, workdir  # noqa: F401  (pytest finds fixtures by name)
