"""The one home of the project's constants.

Every module that needs a sample rate, a segment length or a default takes it
from here, so that a change is made once.
"""

#: Sample rate of the SampleCNN input, in Hz.
SAMPLE_RATE = 22050

#: Samples per SampleCNN segment: 3**10 = 59049 (2.678 s at 22050 Hz).
SEGMENT_SAMPLES = 59049

#: Most segments taken from one clip; a 30-s clip holds 11 whole segments and
#: gets 10 evenly spaced ones (the cost the benchmarks are stated for).
MAX_SEGMENTS = 10

#: Longest stretch of a file that is decoded, in seconds; the rest is ignored so
#: that memory stays bounded for very long files.
MAX_DURATION = 600.0

#: Variant used when neither ``--variant`` nor ``MIREX_VARIANT`` says otherwise.
DEFAULT_VARIANT = "LPNKK1"

#: Audio file extensions (lower case): what the corpus builder (tools/corpus) takes for
#: audio, and what messages name; the harness itself decodes by content.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au")

#: The top-50 Last.fm tags of the MSD-trained models, in output order.
MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance",
    "00s", "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s",
    "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal",
    "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
)

#: The MagnaTagATune top-50 tags of the MTT-trained models, in output order.
MTT_LABELS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
    "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
    "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
    "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
    "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats",
    "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)
