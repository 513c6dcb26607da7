//! Segment's message types and the fields each one carries.

/// Segment's message types (`type` on the wire). The collector's endpoints
/// (`/v1/track`, ...) are named after them; `/v1/batch` carries any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Kind {
    Track,
    Page,
    Screen,
    Identify,
    Alias,
    Group,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Track,
        Kind::Page,
        Kind::Screen,
        Kind::Identify,
        Kind::Alias,
        Kind::Group,
    ];

    /// The `type` value on the wire, and the endpoint's path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Track => "track",
            Kind::Page => "page",
            Kind::Screen => "screen",
            Kind::Identify => "identify",
            Kind::Alias => "alias",
            Kind::Group => "group",
        }
    }

    /// The kind named `s` exactly (Segment's wire names are lower-case).
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Where the event's name goes: `event` for track, `name` for page and screen.
    pub fn name_field(self) -> Option<&'static str> {
        match self {
            Kind::Track => Some("event"),
            Kind::Page | Kind::Screen => Some("name"),
            _ => None,
        }
    }

    /// The object the message carries: `properties` or `traits` (alias has none).
    pub fn body_field(self) -> Option<&'static str> {
        match self {
            Kind::Track | Kind::Page | Kind::Screen => Some("properties"),
            Kind::Identify | Kind::Group => Some("traits"),
            Kind::Alias => None,
        }
    }
}

impl core::fmt::Display for Kind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        assert_eq!(Kind::parse("Track"), None);
        assert_eq!(Kind::Track.name_field(), Some("event"));
        assert_eq!(Kind::Group.body_field(), Some("traits"));
        assert_eq!(Kind::Alias.body_field(), None);
    }
}
