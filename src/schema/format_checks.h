#pragma once
// The individual format checks behind find_format_checker() (format.cpp,
// format_host.cpp, format_uri.cpp). Each takes the whole string.

#include <string_view>

namespace mlxs::schema::formats {

bool date(std::string_view s);
bool time(std::string_view s);
bool date_time(std::string_view s);
bool duration(std::string_view s);
bool uuid(std::string_view s);
bool json_pointer(std::string_view s);
bool relative_json_pointer(std::string_view s);
bool regex(std::string_view s);
bool email(std::string_view s);
bool idn_email(std::string_view s);

bool ipv4(std::string_view s);
bool ipv6(std::string_view s);
bool hostname(std::string_view s);
bool idn_hostname(std::string_view s);

bool uri(std::string_view s);
bool uri_reference(std::string_view s);
bool iri(std::string_view s);
bool iri_reference(std::string_view s);
bool uri_template(std::string_view s);

}  // namespace mlxs::schema::formats
