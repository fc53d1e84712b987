"""The Debian packages the corpus is made of (Debian 12 "bookworm" names)."""

from __future__ import annotations

__all__ = ["TRAIN_PACKAGES", "EXTRA_TRAIN_PACKAGES", "HELDOUT_GAME_PACKAGES", "HELDOUT_PACKAGES"]

#: Game-data packages whose music is used for training, in order of preference
#: (Debian 12 "bookworm" names).  ``openarena-data`` holds no music in
#: bookworm; the OpenArena tracks are in ``openarena-088-data``.  ``0ad-data``
#: is a 1.4 GB download (3.3 GB unpacked, ~0.2 GB of it music) and comes last.
TRAIN_PACKAGES: tuple[str, ...] = (
    "widelands-data",
    "hedgewars-data",
    "supertux-data",
    "megaglest-data",
    "supertuxkart-data",
    "openarena-088-data",
    "0ad-data",
)

#: More game-data packages with music (bookworm), measured at 20 s minimum:
#: about 7.3 h in all before five of them were set aside for evaluation (see
#: :data:`HELDOUT_GAME_PACKAGES`).  Not in the default training list;
#: ``--extra`` on the command line appends them.  (freeorion-data,
#: trigger-rally-data, openclonk-data, blobwars-data, endless-sky-data and
#: btanks-data were tried: no track of 20 s or more that this module finds.)
EXTRA_TRAIN_PACKAGES: tuple[str, ...] = (
    "warmux-data",
    "fillets-ng-data",
    "redeclipse-data",
    "xmoto-data",
    "lincity-ng-data",
    "extremetuxracer-data",
    "scorched3d-data",
)

#: Game soundtracks set aside from training for a second real-recording task
#: (issue 14: which game is this?), the five largest of the former extra list
#: (naev 2.1 h, colobot 1.1 h, marsshooter 0.85 h, freedroidrpg 0.8 h, flare
#: 0.6 h).  Held out like :data:`HELDOUT_PACKAGES`: never train or tune on them.
HELDOUT_GAME_PACKAGES: tuple[str, ...] = (
    "naev-data",
    "colobot-common-sounds",
    "marsshooter-data",
    "freedroidrpg-data",
    "flare-game",
)

#: Music packages kept apart for evaluation: never train or tune on them.
#: ``wesnoth-1.16-music`` is resolved to whichever ``wesnoth-1.NN-music`` the
#: current release has when the exact name is missing.
HELDOUT_PACKAGES: tuple[str, ...] = (
    "wesnoth-1.16-music",
    "nexuiz-music",
    "warzone2100-music",
    "hyperrogue-music",
    "planetblupi-music-ogg",
    "singularity-music",
    "drascula-music",
    "asc-music",
) + HELDOUT_GAME_PACKAGES
