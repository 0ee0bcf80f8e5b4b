/*
 * test_cpp_manager.cpp: processing.hpp's pc::Manager, pc::Dict, pc::List and pc::Item:
 * a started server, items of every kind, a forked child writing through the same proxies,
 * named objects found by a second connection, and errors. Built as C++17
 * (test_cpp_manager) and C++20 (test_cpp_manager_cxx20).
 *
 * ctest-timeout: 60
 */
#include "cpp_check.hpp"

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

void test_items()
{
    CHECK(pc::Item().is_none() && pc::Item(nullptr).is_none());
    CHECK(pc::Item(true).as_bool());
    CHECK(pc::Item(42).as_int() == 42 && pc::Item(-7LL).as_int() == -7);
    CHECK(pc::Item(2.5).as_float() == 2.5);
    CHECK(pc::Item("text").as_str() == "text" && pc::Item(std::string("s")).kind() == PC_KIND_STR);
    std::vector<std::byte> b{std::byte{0}, std::byte{1}};
    CHECK(pc::Item(b).as_bytes() == b);
    CHECK_THROWS(pc::Item(1).as_str(), PC_ERR_TYPE);
    CHECK(pc::Item(1) != pc::Item(true) && pc::Item("a") == pc::Item(std::string("a")));
}

void test_dict_and_list_across_a_fork()
{
    pc::Manager m;
    m.start();
    CHECK(!m.address().empty());
    pc::Dict d = m.dict();
    pc::List l = m.list();
    d.set("answer", 42);
    d.set(1, "one");
    d.set("pi", 3.25);
    d.set("blob", std::vector<std::byte>{std::byte{9}});
    d.set("nothing", nullptr);
    l.append("first");
    l.append(2);

    pc::Process child([&] {
        d.set("from", pc::current_process_name());
        d.set("answer", d.get("answer").as_int() + 1);
        l.append(true);
        l.insert(0, "zeroth");
        return 0;
    });
    child.start();
    CHECK(child.try_join(10s));
    CHECK(child.exitcode() == 0);

    CHECK(d.size() == 6);
    CHECK(d.get("answer").as_int() == 43);
    CHECK(d.get(1).as_str() == "one");
    CHECK(d.get("pi").as_float() == 3.25);
    CHECK(d.get("blob").as_bytes().size() == 1);
    CHECK(d.get("nothing").is_none());
    CHECK(d.get("from").as_str() == child.name());
    CHECK(d.contains("pi") && !d.contains("e"));
    CHECK(!d.find("e").has_value());
    CHECK(d.find("pi").has_value());
    CHECK_THROWS(d.get("e"), PC_ERR_KEY);
    CHECK(d.pop("pi").as_float() == 3.25);
    d.erase("blob");
    CHECK_THROWS(d.erase("blob"), PC_ERR_KEY);
    auto items = d.items();
    CHECK(items.size() == 4);
    CHECK(items[0].first == pc::Item("answer") && items[0].second == pc::Item(43));

    CHECK(l.size() == 4);
    auto all = l.items();
    CHECK((all == std::vector<pc::Item>{"zeroth", "first", 2, true}));
    CHECK(l.get(-1).as_bool());
    l.set(1, 1.5);
    CHECK(l.get(1).as_float() == 1.5);
    CHECK(l.pop().as_bool());
    CHECK(l.pop(0).as_str() == "zeroth");
    CHECK_THROWS(l.get(10), PC_ERR_INDEX);
    l.clear();
    d.clear();
    CHECK(l.size() == 0 && d.size() == 0);
    CHECK_THROWS(l.pop(), PC_ERR_INDEX);

    m.shutdown();
    CHECK_THROWS(d.size(), PC_ERR_EOF);
}

/* A second manager connects to the first one's address and finds its named dict. */
void test_named_objects_and_connect()
{
    pc::Manager server(nullptr, "key");
    server.start();
    pc::Dict shared = server.dict("shared");
    shared.set("hello", "world");

    pc::Manager client(server.address().c_str(), "key");
    client.connect();
    pc::Dict same = client.dict("shared");
    CHECK(same.get("hello").as_str() == "world");
    pc::List named = client.list("numbers");
    named.append(7);
    CHECK(server.list("numbers").get(0).as_int() == 7);
    CHECK_THROWS(client.list("shared"), PC_ERR_INVALID_ARGUMENT); // a dict's name

    pc::Manager wrong(server.address().c_str(), "not the key");
    CHECK_THROWS(wrong.connect(), PC_ERR_AUTH);
    pc::Manager idle;
    CHECK_THROWS(idle.dict(), PC_ERR_WRONG_STATE);
    CHECK_THROWS(idle.address(), PC_ERR_WRONG_STATE);
}

} // namespace

int main()
{
    cpp_check::init();
    RUN(test_items);
    RUN(test_dict_and_list_across_a_fork);
    RUN(test_named_objects_and_connect);
    return cpp_check::done("test_cpp_manager");
}
