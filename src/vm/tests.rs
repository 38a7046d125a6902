use super::*;

#[test]
fn division_corner_cases_follow_the_spec() {
    assert_eq!(div(7, 0), u32::MAX);
    assert_eq!(div(i32::MIN as u32, -1i32 as u32), i32::MIN as u32);
    assert_eq!(rem(7, 0), 7);
    assert_eq!(rem(i32::MIN as u32, -1i32 as u32), 0);
    assert_eq!(div(-7i32 as u32, 2), -3i32 as u32);
    assert_eq!(rem(-7i32 as u32, 2), -1i32 as u32);
}
