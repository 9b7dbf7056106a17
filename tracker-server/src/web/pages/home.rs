//! Home.

use super::*;

pub async fn home(user: WebUser) -> Markup {
    let role = user.who.role;
    let tiles: Vec<(&str, &str, &str)> = [
        (
            Permission::LocateFolders,
            "/whereis",
            "Where is a file?",
            "Find a folder by barcode, CHI, or name and date of birth.",
        ),
        (
            Permission::IngestEvents,
            "/scan?mode=porter",
            "Scan folders",
            "Scan a location card, then the folders you are carrying.",
        ),
        (
            Permission::EditRecords,
            "/scan?mode=dispatch",
            "Dispatch from the library",
            "Send folders to a ward or clinic.",
        ),
        (
            Permission::EditRecords,
            "/scan?mode=receive",
            "Receive at the library",
            "Book returned folders back in.",
        ),
        (
            Permission::RequestNotes,
            "/requests/new",
            "Request notes",
            "Ask the library to send a patient's notes to a ward or clinic.",
        ),
        (
            Permission::EditRecords,
            "/desk",
            "Requests queue",
            "Live list of requests for notes, most urgent first.",
        ),
        (
            Permission::EditRecords,
            "/audits",
            "Shelf audits",
            "Stock-take a shelf or bay: found here, found but expected elsewhere, not found.",
        ),
        (
            Permission::ManageAppointments,
            "/pull-lists",
            "Pull lists",
            "Folders to pull for a clinic date, in shelf order.",
        ),
        (
            Permission::LocateFolders,
            "/containers",
            "Trolleys, bags and crates",
            "What is on each container and where it was last seen; register new ones.",
        ),
        (
            Permission::PrintLabels,
            "/labels",
            "Labels",
            "Print folder labels, location cards and badges.",
        ),
        (
            Permission::ReadReports,
            "/reports/out-of-library",
            "Folders out too long",
            "Folders away from the library for more than N days.",
        ),
        (
            Permission::ReadReports,
            "/statistics",
            "Statistics",
            "Clinic notes availability, request turnaround against targets, the records lifecycle; the monthly report for the board.",
        ),
        (
            Permission::ReadReports,
            "/admin/devices",
            "Devices",
            "Scanners and portals: online, last read, queue depth, read rate.",
        ),
        (
            Permission::ReadReports,
            "/reports/device-health",
            "Reader health",
            "Devices silent or reading below their normal rate (a detuned antenna).",
        ),
        (
            Permission::ManageLocations,
            "/admin/locations",
            "Locations",
            "Wards, clinics, stores and their codes.",
        ),
        (
            Permission::ManageUsers,
            "/admin/users",
            "Users",
            "Who can sign in, and their roles.",
        ),
        (
            Permission::CodeEpisodes,
            "/coding",
            "Coding queue",
            "Episodes awaiting coding, oldest first, with where the notes are now.",
        ),
        (
            Permission::ManageDigitisation,
            "/digitisation",
            "Scanning bureau",
            "Send batches of folders for scanning, record QA and what happens to the paper.",
        ),
        (
            Permission::ManageRetention,
            "/retention",
            "Retention and destruction",
            "Folders due for review or destruction, legal holds, two-person approval.",
        ),
        (
            Permission::ManageExternalRequests,
            "/external-requests",
            "GP queries and subject access",
            "Log requests, extend a subject access request, see what is overdue.",
        ),
        (
            Permission::ReviewPrivacy,
            "/reports/privacy",
            "Privacy report",
            "For the Caldicott guardian: lookups to review, each with its audit rows.",
        ),
        (
            Permission::FlagPatients,
            "/admin/patient-flags",
            "Patient flags",
            "Flag staff and VIP records so that every lookup of them is reported.",
        ),
    ]
    .into_iter()
    .filter(|(p, ..)| auth::allows(role, *p))
    .map(|(_, h, t, d)| (h, t, d))
    .collect();
    layout(
        &user,
        "/",
        "What do you need to do?",
        html! {
            div.tiles { @for (href, title, desc) in tiles { a href=(href) { strong { (title) } (desc) } } }
        },
    )
}
